"""Labels that reach the portal's templates as data (model choices, result readings) and are translated there with
`{% translate value %}`; listed here so `makemessages` finds them. Never imported at run time."""
from django.utils.translation import gettext_noop

LABELS = [
    # Assessment.Status, Assessment.Priority
    gettext_noop("Queued"), gettext_noop("Running"), gettext_noop("Succeeded"), gettext_noop("Failed"),
    gettext_noop("Routine"), gettext_noop("Urgent"),
    # inference.bone_age readings
    gettext_noop("normal"), gettext_noop("delayed"), gettext_noop("advanced"),
    # reviews.SignOff.Decision
    gettext_noop("Agree"), gettext_noop("Disagree"),
    # tenants.Membership.Role, tenants.Tenant.Status
    gettext_noop("Administrator"), gettext_noop("Radiologist"), gettext_noop("Clinician"), gettext_noop("Billing"),
    gettext_noop("Auditor"), gettext_noop("Active"), gettext_noop("Suspended"), gettext_noop("Offboarded"),
    # registry.ModelVersion.State
    gettext_noop("Staged"), gettext_noop("Shadow"), gettext_noop("Canary"), gettext_noop("Retired"),
    # Chart texts
    gettext_noop("Assessments per day"),
    gettext_noop("Completed assessments per day this month, by model; the table below lists the same numbers."),
    gettext_noop("±2 SD"), gettext_noop("Reference mean (bone age = chronological age)"),
    gettext_noop("Chronological age (years)"), gettext_noop("Bone age (years)"),
]
