"""The audit event catalogue: every platform event code and the DICOM code it is recorded under.

Event types follow IHE ATNA / DICOM PS3.15 A.5: the event ID is a code of PS3.16 CID 400 ("Audit Event ID",
coding scheme DCM) and, where the DICOM audit messages name one, the event type (subtype) is a code of CID 401
("Audit Event Type Code"). The platform's own stable code (`assessment.read`, `api_key.create`, ...) is kept
beside them so exports stay readable and filters stay simple.

| platform code            | CID 400 event ID               | CID 401 subtype                          | action |
|--------------------------|--------------------------------|------------------------------------------|--------|
| assessment.upload        | 110107 Import                  |                                          | C      |
| assessment.read          | 110110 Patient Record          |                                          | R      |
| assessment.list          | 110112 Query                   |                                          | E      |
| assessment.download      | 110106 Export                  |                                          | R      |
| assessment.signoff       | 110110 Patient Record          |                                          | U      |
| access.refused           | 110113 Security Alert          | 110132 Use of Restricted Function        | E      |
| signin                   | 110114 User Authentication     | 110122 Login                             | E      |
| signout                  | 110114 User Authentication     | 110123 Logout                            | E      |
| user.create              | 110113 Security Alert          | 110137 User Security Attributes Changed  | C      |
| membership.grant         | 110113 Security Alert          | 110136 Security Roles Changed            | U      |
| membership.revoke        | 110113 Security Alert          | 110136 Security Roles Changed            | D      |
| api_key.create           | 110113 Security Alert          | 110137 User Security Attributes Changed  | C      |
| api_key.revoke           | 110113 Security Alert          | 110137 User Security Attributes Changed  | D      |
| plan.create              | 110100 Application Activity    | 110131 Software Configuration            | C      |
| plan.change              | 110100 Application Activity    | 110131 Software Configuration            | U      |
| invoice.credit           | 110100 Application Activity    |                                          | C      |
| model.change             | 110100 Application Activity    | 110131 Software Configuration            | U      |
| operator.access          | 110113 Security Alert          | 110127 Emergency Override Started        | E      |
| audit.export             | 110101 Audit Log Used          |                                          | R      |
| audit.archive            | 110101 Audit Log Used          |                                          | D      |
| dicom.store              | 110104 DICOM Instances Transferred |                                      | C      |
| dicom.query              | 110112 Query                   |                                          | E      |
| dicom.retrieve           | 110104 DICOM Instances Transferred |                                      | R      |

The list read is recorded once per request, with the ids it returned (see audit/services.py). A "download" is
both the presigned URL of the original (API) and the rendered PNG (portal): either hands out the pixels.
Operator access is the "break glass" crossing of every hospital's rows (Django admin), hence the emergency
override subtype.
"""
from __future__ import annotations

from dataclasses import dataclass

DCM = "DCM"  # DICOM controlled terminology (PS3.16), the coding scheme of CID 400/401


class Action:
    CREATE = "C"
    READ = "R"
    UPDATE = "U"
    DELETE = "D"
    EXECUTE = "E"
    ALL = ("C", "R", "U", "D", "E")


class Outcome:
    """ATNA EventOutcomeIndicator."""

    SUCCESS = 0
    MINOR_FAILURE = 4  # e.g. a refused access, a wrong password
    SERIOUS_FAILURE = 8  # the action was aborted
    MAJOR_FAILURE = 12  # action made unavailable
    ALL = (0, 4, 8, 12)


@dataclass(frozen=True)
class EventKind:
    code: str  # the platform's stable code
    type_code: str  # CID 400
    type_display: str
    subtype_code: str  # CID 401, or "" when the audit message defines none
    subtype_display: str
    action: str  # default action
    phi: bool  # touches patient data


_KINDS = [
    EventKind("assessment.upload", "110107", "Import", "", "", Action.CREATE, True),
    EventKind("assessment.read", "110110", "Patient Record", "", "", Action.READ, True),
    EventKind("assessment.list", "110112", "Query", "", "", Action.EXECUTE, True),
    EventKind("assessment.download", "110106", "Export", "", "", Action.READ, True),
    # A radiologist's verdict on a result (reviews app): an update of the patient's record.
    EventKind("assessment.signoff", "110110", "Patient Record", "", "", Action.UPDATE, True),
    EventKind("access.refused", "110113", "Security Alert", "110132", "Use of Restricted Function",
              Action.EXECUTE, False),
    EventKind("signin", "110114", "User Authentication", "110122", "Login", Action.EXECUTE, False),
    EventKind("signout", "110114", "User Authentication", "110123", "Logout", Action.EXECUTE, False),
    EventKind("user.create", "110113", "Security Alert", "110137", "User Security Attributes Changed",
              Action.CREATE, False),
    EventKind("membership.grant", "110113", "Security Alert", "110136", "Security Roles Changed",
              Action.UPDATE, False),
    EventKind("membership.revoke", "110113", "Security Alert", "110136", "Security Roles Changed",
              Action.DELETE, False),
    EventKind("api_key.create", "110113", "Security Alert", "110137", "User Security Attributes Changed",
              Action.CREATE, False),
    EventKind("api_key.revoke", "110113", "Security Alert", "110137", "User Security Attributes Changed",
              Action.DELETE, False),
    EventKind("plan.create", "110100", "Application Activity", "110131", "Software Configuration",
              Action.CREATE, False),
    EventKind("plan.change", "110100", "Application Activity", "110131", "Software Configuration",
              Action.UPDATE, False),
    EventKind("invoice.credit", "110100", "Application Activity", "", "", Action.CREATE, False),
    EventKind("model.change", "110100", "Application Activity", "110131", "Software Configuration",
              Action.UPDATE, False),
    EventKind("operator.access", "110113", "Security Alert", "110127", "Emergency Override Started",
              Action.EXECUTE, False),
    EventKind("audit.export", "110101", "Audit Log Used", "", "", Action.READ, False),
    EventKind("audit.archive", "110101", "Audit Log Used", "", "", Action.DELETE, False),
    # DICOMweb (integrations/dicomweb): STOW-RS stores, QIDO-RS searches, WADO-RS retrieves instances/metadata.
    EventKind("dicom.store", "110104", "DICOM Instances Transferred", "", "", Action.CREATE, True),
    EventKind("dicom.query", "110112", "Query", "", "", Action.EXECUTE, True),
    EventKind("dicom.retrieve", "110104", "DICOM Instances Transferred", "", "", Action.READ, True),
]

# Webhooks and notification settings (issue 9, platform/webhooks): configuration changes of the hospital's
# integrations. Rotating a signing secret changes a credential, hence the security-attributes subtype.
_KINDS += [
    EventKind("webhook.create", "110100", "Application Activity", "110131", "Software Configuration",
              Action.CREATE, False),
    EventKind("webhook.update", "110100", "Application Activity", "110131", "Software Configuration",
              Action.UPDATE, False),
    EventKind("webhook.delete", "110100", "Application Activity", "110131", "Software Configuration",
              Action.DELETE, False),
    EventKind("webhook.rotate_secret", "110113", "Security Alert", "110137", "User Security Attributes Changed",
              Action.UPDATE, False),
    EventKind("webhook.replay", "110100", "Application Activity", "", "", Action.EXECUTE, False),
    EventKind("notification_settings.change", "110100", "Application Activity", "110131", "Software Configuration",
              Action.UPDATE, False),
    EventKind("hl7_destination.change", "110100", "Application Activity", "110131", "Software Configuration",
              Action.UPDATE, False),
]

EVENT_KINDS: dict[str, EventKind] = {kind.code: kind for kind in _KINDS}


def event_kind(code: str) -> EventKind:
    try:
        return EVENT_KINDS[code]
    except KeyError:
        raise ValueError(f"unknown audit event {code!r}; add it to audit/events.py") from None
