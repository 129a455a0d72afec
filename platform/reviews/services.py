"""Writes on sign-offs: record a radiologist's verdict, audited in the same transaction."""
from __future__ import annotations

from django.db import transaction

from reviews.models import SignOff

COMMENT_MAX_CHARS = 4000


class SignOffRejected(ValueError):
    """A sign-off the platform refuses, with a stable code (invalid_decision, comment_required, ...)."""

    def __init__(self, code: str, message: str, http_status: int = 400):
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status


@transaction.atomic
def signoff_record(*, assessment, user, decision: str, comment: str = "", request=None) -> SignOff:
    """Record `user`'s verdict ("agree" or "disagree") on a finished `assessment`, with an optional comment
    (required when disagreeing: a disagreement must say why).

    Writes the `assessment.signoff` audit event in the same transaction (no verdict without its record).
    Raises SignOffRejected (invalid_decision, comment_required, comment_too_long, assessment_not_finished) and
    audit.services.AuditUnavailable (nothing is recorded then).
    """
    from audit.services import audit_event_record

    decision = (decision or "").strip().lower()
    comment = (comment or "").strip()
    if decision not in SignOff.Decision.values:
        raise SignOffRejected("invalid_decision", "Choose agree or disagree.")
    if decision == SignOff.Decision.DISAGREE and not comment:
        raise SignOffRejected("comment_required", "Say why you disagree in the comment.")
    if len(comment) > COMMENT_MAX_CHARS:
        raise SignOffRejected("comment_too_long", f"The comment is longer than {COMMENT_MAX_CHARS} characters.")
    if assessment.status != assessment.Status.SUCCEEDED:
        raise SignOffRejected("assessment_not_finished", "Only a finished result can be signed off.", 409)
    signoff = SignOff.objects.create(tenant=assessment.tenant, assessment=assessment, user=user,
                                     username=user.get_username(), decision=decision, comment=comment)
    # The comment is clinical free text: the audit event says that there is one, never what it says.
    audit_event_record(event="assessment.signoff", tenant=assessment.tenant, request=request, user=user,
                       assessment=assessment, object_type="signoff", object_id=str(signoff.pk),
                       details={"decision": decision, "has_comment": bool(comment)})
    return signoff
