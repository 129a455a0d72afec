"""HIS/portal API: POST a sign-off on an assessment, GET the assessment's sign-offs."""
from __future__ import annotations

from rest_framework.response import Response

from api.auditing import audit_or_fail, audit_unavailable_problem
from api.base import TenantAPIView
from api.problems import ApiProblem
from audit.services import AuditUnavailable
from inference import selectors as inference_selectors
from reviews import selectors, services
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

    def post(self, request, assessment_id):
        assessment = self._assessment(assessment_id)
        if self.acting_user is None:
            # A verdict is a person's clinical judgement; an HIS key cannot give one.
            raise ApiProblem(status=403, code="signoff_needs_a_person",
                             detail="Sign-off is made by a signed-in radiologist, not an API key.")
        data = request.data if hasattr(request.data, "get") else {}
        try:
            signoff = services.signoff_record(assessment=assessment, user=self.acting_user,
                                              decision=data.get("decision") or "", comment=data.get("comment") or "",
                                              request=request)
        except services.SignOffRejected as exc:
            raise ApiProblem(status=exc.http_status, code=exc.code, detail=exc.message) from None
        except AuditUnavailable:
            raise audit_unavailable_problem() from None
        return Response(serialize_signoff(signoff), status=201)

    def get(self, request, assessment_id):
        assessment = self._assessment(assessment_id)
        # The comments are clinical text about this patient: reading them is a read of the record.
        audit_or_fail(request, event="assessment.read", tenant=self.tenant, assessment=assessment,
                      details={"via": "signoffs"})
        return Response({"results": [serialize_signoff(s) for s in selectors.signoffs_for_assessment(
            assessment=assessment)]})
