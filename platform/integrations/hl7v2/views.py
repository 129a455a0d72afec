"""HL7 v2 API: an assessment's ORU^R01 message, the hospital's HL7 destination, and the delivery log."""
from __future__ import annotations

from django.db import transaction
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from api.auditing import audit_or_fail
from api.base import TenantAPIView
from api.openapi import Problems
from api.problems import ApiProblem
from inference import selectors as inference_selectors
from inference.models import Assessment
from integrations.hl7v2 import schemas, services
from integrations.hl7v2.oru import build_oru
from integrations.models import Hl7Delivery, Hl7Destination
from tenants.roles import Capability

# The media type IHE and most interface engines use for HL7 v2 in its pipe-delimited (ER7) encoding.
HL7_MEDIA_TYPE = "x-application/hl7-v2+er7"
_MAX_LIST = 200


class AssessmentHl7View(TenantAPIView):
    """GET the ORU^R01 (HL7 v2.5.1) message of one of the hospital's succeeded assessments, as ER7 text."""

    required_capabilities = {"GET": Capability.READ}

    def perform_content_negotiation(self, request, force=False):
        # The body is HL7 text whatever the Accept header says; problems stay application/problem+json.
        renderer = JSONRenderer()
        return renderer, renderer.media_type

    @extend_schema(
        operation_id="assessments_hl7", tags=["hl7"], summary="The assessment's ORU^R01 message (HL7 v2.5.1)",
        description="The result as the ORU^R01 message the hospital's HL7 destination receives, in the "
                    "pipe-delimited ER7 encoding (segments end with a carriage return). Scope: `read`.",
        responses={(200, HL7_MEDIA_TYPE): OpenApiResponse(OpenApiTypes.STR, description="The ER7 message."),
                   404: Problems("assessment_not_found"),
                   409: Problems("assessment_not_succeeded", description="Only a succeeded assessment has a "
                                                                          "result message."),
                   503: Problems("audit_unavailable")},
    )
    def get(self, request, assessment_id):
        assessment = inference_selectors.assessment_for_tenant(tenant=self.tenant, assessment_id=assessment_id)
        if assessment is None:
            raise ApiProblem(status=404, code="assessment_not_found",
                             detail="No assessment with this id exists for your hospital.")
        # build_oru refuses an assessment without a result (ValueError): a 409 here, never a 500.
        if assessment.status != Assessment.Status.SUCCEEDED or not assessment.result:
            raise ApiProblem(status=409, code="assessment_not_succeeded",
                             detail=f"The assessment is {assessment.status}; only a succeeded assessment has a "
                                    "result message.")
        destination = Hl7Destination.objects.for_tenant(self.tenant).first()
        delivery = Hl7Delivery.objects.for_tenant(self.tenant).filter(assessment=assessment).first()
        message = build_oru(assessment=assessment, destination=destination,
                            control_id=delivery.control_id if delivery else None)
        audit_or_fail(request, event="assessment.read", tenant=self.tenant, assessment=assessment,
                      details={"format": "hl7v2"})
        response = HttpResponse(message.encode("utf-8"), content_type=f"{HL7_MEDIA_TYPE}; charset=utf-8")
        response["Content-Disposition"] = f'inline; filename="{assessment.id}.hl7"'
        return response


def _destination_body(destination: Hl7Destination) -> dict:
    return {"host": destination.host, "port": destination.port, "enabled": destination.enabled,
            "sending_application": destination.sending_application,
            "sending_facility": destination.sending_facility,
            "receiving_application": destination.receiving_application,
            "receiving_facility": destination.receiving_facility,
            "updated_at": destination.updated_at.isoformat()}


_TEXT_FIELDS = ("sending_application", "sending_facility", "receiving_application", "receiving_facility")


def _has_control_characters(value: str) -> bool:
    # NUL cannot be stored (PostgreSQL text), and CR, LF or other controls would break the message's segments.
    return any(ord(ch) < 32 or ord(ch) == 127 for ch in value)


class Hl7DestinationView(TenantAPIView):
    """GET or PUT the hospital's HL7 v2 receiver (hospital administrators)."""

    required_capabilities = {"GET": Capability.MANAGE_SETTINGS, "PUT": Capability.MANAGE_SETTINGS}

    @extend_schema(operation_id="hl7_destination_retrieve", tags=["hl7"],
                   summary="The hospital's HL7 v2 destination",
                   description="Where ORU^R01 results are sent. Hospital administrators (role `admin`).",
                   responses={200: schemas.Hl7DestinationSerializer, 404: Problems("hl7_destination_not_found")})
    def get(self, request):
        destination = Hl7Destination.objects.for_tenant(self.tenant).first()
        if destination is None:
            raise ApiProblem(status=404, code="hl7_destination_not_found",
                             detail="Your hospital has no HL7 destination; PUT one to receive ORU^R01 results.")
        return Response(_destination_body(destination))

    @extend_schema(
        operation_id="hl7_destination_update", tags=["hl7"], summary="Set the hospital's HL7 v2 destination",
        description="Creates or replaces it. Hospital administrators (role `admin`).",
        request={"application/json": schemas.Hl7DestinationWriteSerializer},
        responses={200: schemas.Hl7DestinationSerializer,
                   400: Problems("invalid_port", "invalid_enabled", "invalid_destination", "invalid_host",
                                 *(f"invalid_{name}" for name in _TEXT_FIELDS)),
                   415: Problems("unsupported_media_type"),
                   503: Problems("audit_unavailable", description="The change's audit event cannot be written; "
                                                                  "nothing was changed.")},
    )
    def put(self, request):
        data = request.data if isinstance(request.data, dict) else {}
        port = data.get("port")
        if isinstance(port, bool) or not isinstance(port, int):
            raise ApiProblem(status=400, code="invalid_port", detail="port must be an integer (1-65535).")
        texts = {}
        host = data.get("host") or ""
        if not isinstance(host, str) or _has_control_characters(host):
            raise ApiProblem(status=400, code="invalid_host", detail="host must be a host name or address.")
        for name in _TEXT_FIELDS:
            value = data.get(name, "")
            if not isinstance(value, str) or len(value) > schemas.TEXT_MAX or _has_control_characters(value):
                raise ApiProblem(status=400, code=f"invalid_{name}", detail=f"{name} must be text (180 at most).")
            texts[name] = value
        enabled = data.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ApiProblem(status=400, code="invalid_enabled", detail="enabled must be true or false.")
        try:
            # The change and its audit event commit together, or neither does.
            with transaction.atomic():
                destination = services.hl7_destination_configure(tenant=self.tenant, host=host,
                                                                 port=port, enabled=enabled, **texts)
                audit_or_fail(request, event="hl7_destination.change", tenant=self.tenant,
                              details={"port": port, "enabled": enabled})
        except ValueError as exc:
            raise ApiProblem(status=400, code="invalid_destination", detail=str(exc)) from None
        return Response(_destination_body(destination))


class Hl7DeliveryListView(TenantAPIView):
    """GET the hospital's recent ORU^R01 deliveries (the log): which assessment, state, ACK code, why it failed."""

    required_capabilities = {"GET": Capability.READ}

    @extend_schema(
        operation_id="hl7_deliveries_list", tags=["hl7"], summary="The hospital's ORU^R01 delivery log",
        description="Newest first (the latest 200): state, ACK code, and why a delivery failed. Scope: `read`.",
        parameters=[OpenApiParameter("status", str, enum=Hl7Delivery.Status.values, required=False)],
        responses={200: schemas.Hl7DeliveryListSerializer, 400: Problems("invalid_status")},
    )
    def get(self, request):
        queryset = Hl7Delivery.objects.for_tenant(self.tenant).order_by("-created_at")
        status = request.query_params.get("status")
        if status and status not in Hl7Delivery.Status.values:
            raise ApiProblem(status=400, code="invalid_status",
                             detail=f"status must be one of {', '.join(Hl7Delivery.Status.values)}.")
        if status:
            queryset = queryset.filter(status=status)
        rows = [{"assessment": str(d.assessment_id), "control_id": d.control_id, "status": d.status,
                 "attempts": d.attempts, "ack_code": d.ack_code or None, "error": d.error or None,
                 "created_at": d.created_at.isoformat(),
                 "last_attempt_at": d.last_attempt_at.isoformat() if d.last_attempt_at else None,
                 "finished_at": d.finished_at.isoformat() if d.finished_at else None}
                for d in queryset[:_MAX_LIST]]
        return Response({"results": rows})
