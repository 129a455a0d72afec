"""HIS/portal API: POST a sign-off on an assessment, GET the assessment's sign-offs."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from api.auditing import audit_or_fail, audit_unavailable_problem
from api.base import TenantAPIView
from api.openapi import Problems
from api.problems import ApiProblem
from audit.services import AuditUnavailable
from inference import selectors as inference_selectors
from reviews import schemas, selectors, services
from tenants.roles import Capability


def serialize_signoff(signoff) -> dict:
    return {"id": signoff.pk, "assessment": str(signoff.assessment_id), "decision": signoff.decision,
            "comment": signoff.comment, "username": signoff.username, "created_at": signoff.created_at.isoformat()}


class SignOffCollectionView(TenantAPIView):
    """POST {decision: agree|disagree, comment}: record the signed-in radiologist's verdict (201).
    GET: every verdict on the assessment, newest first. Another hospital's id is a 404."""

    required_capabilities = {"POST": Capability.SIGN_OFF, "GET": Capability.READ}

    def _assessment(self, assessment_id):
        assessment = inference_selectors.assessment_for_tenant(tenant=self.tenant, assessment_id=assessment_id)
        if assessment is None:
            raise ApiProblem(status=404, code="assessment_not_found",
                             detail="No assessment with this id exists for your hospital.")
        return assessment

    @extend_schema(
        operation_id="signoffs_create", tags=["reviews"], summary="Sign off an assessment's result",
        description="The signed-in radiologist's verdict (role `radiologist`; an API key never can): agree, or "
                    "disagree with a comment saying why. Only a succeeded assessment can be signed off. A changed "
                    "mind is a new sign-off.",
        request={"application/json": schemas.SignOffCreateSerializer},
        responses={201: schemas.SignOffSerializer,
                   400: Problems("invalid_decision", "invalid_comment", "comment_required", "comment_too_long"),
                   403: Problems("signoff_needs_a_person"), 404: Problems("assessment_not_found"),
                   409: Problems("assessment_not_finished", description="Only a succeeded assessment can be "
                                                                        "signed off (or an Idempotency-Key retry "
                                                                        "is still running)."),
                   503: Problems("audit_unavailable")},
    )
    def post(self, request, assessment_id):
        assessment = self._assessment(assessment_id)
        if self.acting_user is None:
            # A verdict is a person's clinical judgement; an HIS key cannot give one.
            raise ApiProblem(status=403, code="signoff_needs_a_person",
                             detail="Sign-off is made by a signed-in radiologist, not an API key.")
        data = request.data if hasattr(request.data, "get") else {}
        decision = data.get("decision") or ""
        comment = data.get("comment") or ""
        if not isinstance(comment, str) or "\x00" in comment:
            # PostgreSQL text cannot hold NUL; a number or list is not a comment: a 400, not a 500.
            raise ApiProblem(status=400, code="invalid_comment", detail="comment must be text.")
        try:
            signoff = services.signoff_record(assessment=assessment, user=self.acting_user,
                                              decision=decision if isinstance(decision, str) else "",
                                              comment=comment, request=request)
        except services.SignOffRejected as exc:
            raise ApiProblem(status=exc.http_status, code=exc.code, detail=exc.message) from None
        except AuditUnavailable:
            raise audit_unavailable_problem() from None
        return Response(serialize_signoff(signoff), status=201)

    @extend_schema(
        operation_id="signoffs_list", tags=["reviews"], summary="An assessment's sign-offs",
        description="Every verdict on the assessment, newest first. Scope `read` (or a person who may read).",
        responses={200: schemas.SignOffListSerializer, 404: Problems("assessment_not_found"),
                   503: Problems("audit_unavailable")},
    )
    def get(self, request, assessment_id):
        assessment = self._assessment(assessment_id)
        # The comments are clinical text about this patient: reading them is a read of the record.
        audit_or_fail(request, event="assessment.read", tenant=self.tenant, assessment=assessment,
                      details={"via": "signoffs"})
        return Response({"results": [serialize_signoff(s) for s in selectors.signoffs_for_assessment(
            assessment=assessment)]})
