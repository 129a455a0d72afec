"""HL7 v2 ORU^R01: built from real results, delivered over MLLP by the real Celery worker to a real listener on
127.0.0.1, parsed back with hl7apy; AE and an unreachable receiver end in a visible failed state."""
from __future__ import annotations

import socket
import threading
import time

import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from tests.conftest import HAND_DX, wait_for_status


class MllpListener:
    """A minimal HL7 receiver: accepts MLLP frames, keeps each message, answers an ACK with `ack_code`."""

    def __init__(self, ack_code: str = "AA", text: str = ""):
        self.ack_code, self.text = ack_code, text
        self.messages: list[str] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)
        self.port = self._server.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except socket.timeout:
                continue
            with conn:
                data = b""
                while b"\x1c\x0d" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                message = data[data.find(b"\x0b") + 1:data.find(b"\x1c\x0d")].decode()
                self.messages.append(message)
                control_id = message.split("\r")[0].split("|")[9]
                ack = (f"MSH|^~\\&|RIS|HOSP|MIP|hospital-a|20261122000000||ACK^R01^ACK|ACK{len(self.messages)}|P|"
                       f"2.5.1\rMSA|{self.ack_code}|{control_id}|{self.text}\r")
                conn.sendall(b"\x0b" + ack.encode() + b"\x1c\x0d")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._server.close()


@pytest.fixture
def listener():
    receivers = []

    def make(ack_code: str = "AA", text: str = "") -> MllpListener:
        receivers.append(MllpListener(ack_code, text))
        return receivers[-1]

    yield make
    for receiver in receivers:
        receiver.close()


def _configure(hospital, port: int):
    from integrations.hl7v2.services import hl7_destination_configure
    from tenants.context import tenant_context

    with tenant_context(hospital.tenant):
        return hl7_destination_configure(tenant=hospital.tenant, host="127.0.0.1", port=port,
                                         sending_application="MIP-AI", sending_facility="MIP-A", receiving_application="RIS",
                                         receiving_facility="HOSP")


def _send(hospital, assessment_id):
    from django.db import transaction

    from inference.models import Assessment
    from integrations.hl7v2.services import oru_send_for
    from tenants.context import tenant_context

    with tenant_context(hospital.tenant), transaction.atomic():
        return oru_send_for(assessment=Assessment.objects.get(pk=assessment_id))


def _wait_delivery(hospital, assessment_id, statuses=("delivered", "failed"), timeout_s: float = 30.0):
    from integrations.models import Hl7Delivery
    from tenants.context import tenant_context

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with tenant_context(hospital.tenant):
            delivery = Hl7Delivery.objects.filter(assessment_id=assessment_id).first()
        if delivery is not None and delivery.status in statuses:
            return delivery
        time.sleep(0.1)
    raise AssertionError(f"delivery did not finish: {delivery and delivery.status}")


def _succeeded_assessment(hospital, *, critical: bool = False):
    """A succeeded bone-age assessment of the real hand radiograph, its result as the worker writes it."""
    from inference.bone_age import interpret_bone_age
    from inference.catalog import DEMO_NOTICE
    from inference.models import Assessment
    from studies.imaging import parse_upload
    from studies.services import image_ingest
    from tenants.context import tenant_context

    data = HAND_DX.read_bytes()
    result = {**interpret_bone_age(96.0 if critical else 130.4, "F", 156.0),
              "model": {"name": "bone_age", "version": 1, "precision": "FP32", "demo": True}, "notice": DEMO_NOTICE}
    with tenant_context(hospital.tenant):
        instance = image_ingest(tenant=hospital.tenant, data=data, parsed=parse_upload(data)).instance
        findings = [{"code": "bone_age_deviation", "message": "Bone age more than 3 SD from chronological age"}]
        return Assessment.objects.create(
            tenant=hospital.tenant, instance=instance, model_name="bone_age", model_version=1, model_precision="FP32",
            status=Assessment.Status.SUCCEEDED, patient_sex="F", chronological_age_months=156.0, result=result,
            is_critical=critical, critical_findings=findings if critical else [])


def _observations(message: str) -> dict[str, tuple[str, str, str]]:
    parsed = parse_message(message, validation_level=VALIDATION_LEVEL.TOLERANT, find_groups=True)
    order = parsed.oru_r01_patient_result.oru_r01_order_observation
    return {o.obx.obx_3.obx_3_1.value: (o.obx.obx_5.value, o.obx.obx_6.obx_6_1.value if o.obx.obx_6 else "",
                                        o.obx.obx_8.value if o.obx.obx_8 else "")
            for o in order.oru_r01_observation}


def test_a_succeeded_assessment_is_delivered_as_oru_r01_and_acknowledged(his_a, hospital_a, celery_worker,
                                                                        listener):
    receiver = listener("AA")
    _configure(hospital_a, receiver.port)
    with HAND_DX.open("rb") as upload:
        response = his_a.post("/api/v1/assessments", {"file": upload, "model": "bone_age",
                                                      "chronological_age_months": "120"}, format="multipart")
    assert response.status_code == 202, response.content
    body = wait_for_status(his_a, response["Location"], {"succeeded"})
    delivery = _send(hospital_a, body["id"])
    assert delivery is not None and delivery.control_id

    delivered = _wait_delivery(hospital_a, body["id"])
    assert (delivered.status, delivered.ack_code, delivered.attempts) == ("delivered", "AA", 1)
    assert len(receiver.messages) == 1
    message = receiver.messages[0]
    parsed = parse_message(message, validation_level=VALIDATION_LEVEL.TOLERANT, find_groups=True)
    msh = parsed.msh
    assert (msh.msh_3.value, msh.msh_4.value, msh.msh_5.value, msh.msh_6.value) == ("MIP-AI", "MIP-A", "RIS",
                                                                                      "HOSP")
    assert msh.msh_9.value == "ORU^R01^ORU_R01" and msh.msh_12.value == "2.5.1"
    assert msh.msh_10.value == delivered.control_id
    result = body["result"]
    observations = _observations(message)
    assert float(observations["bone_age_months"][0]) == pytest.approx(result["bone_age_months"])
    assert observations["bone_age_months"][1] == "mo"
    assert float(observations["z_score"][0]) == pytest.approx(result["z_score"])
    assert float(observations["chronological_age_months"][0]) == 120.0
    assert all(flag == "" for _, _, flag in observations.values())  # not critical
    order = parsed.oru_r01_patient_result.oru_r01_order_observation
    assert "demo, not for diagnostic use" in [nte.nte_3.value for nte in order.nte]
    assert parsed.oru_r01_patient_result.oru_r01_patient.pid.pid_8.value == body["patient_sex"]

    # The API serves the same message (same control id), and a second call to send does not send twice.
    served = his_a.get(f"/api/v1/assessments/{body['id']}/hl7")
    assert served.status_code == 200 and served["Content-Type"].startswith("x-application/hl7-v2+er7")
    text = served.content.decode()
    assert _observations(text) == observations
    assert parse_message(text, validation_level=VALIDATION_LEVEL.TOLERANT).msh.msh_10.value == delivered.control_id
    assert _send(hospital_a, body["id"]).pk == delivered.pk
    time.sleep(0.5)
    assert len(receiver.messages) == 1


def test_a_refusing_or_unreachable_receiver_ends_in_a_visible_failed_delivery(hospital_a, hospital_b, his_a,
                                                                                 celery_worker, listener, settings):
    # Hospital A's receiver answers AE: failed at once, not retried, the receiver's reason kept.
    receiver = listener("AE", "Unknown order")
    _configure(hospital_a, receiver.port)
    refused = _succeeded_assessment(hospital_a)
    _send(hospital_a, refused.pk)
    failed = _wait_delivery(hospital_a, refused.pk)
    assert (failed.status, failed.ack_code, failed.error, failed.attempts) == ("failed", "AE", "Unknown order", 1)
    log = his_a.get("/api/v1/hl7/deliveries").json()["results"]
    assert [(row["assessment"], row["status"], row["ack_code"]) for row in log] == [(str(refused.pk), "failed", "AE")]

    # Hospital B's receiver is down: retried with backoff, then failed.
    settings.HL7_MAX_RETRIES = 2
    settings.HL7_RETRY_BASE_S = 0.1
    settings.HL7_MLLP_TIMEOUT_S = 1.0
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens on this port now
    _configure(hospital_b, port)
    unreachable = _succeeded_assessment(hospital_b)
    _send(hospital_b, unreachable.pk)
    gave_up = _wait_delivery(hospital_b, unreachable.pk)
    assert gave_up.status == "failed" and gave_up.attempts == 3 and "unreachable" in gave_up.error


def test_a_critical_result_carries_the_abnormal_flag_and_the_finding(hospital_a, his_a, platform_settings):
    assessment = _succeeded_assessment(hospital_a, critical=True)
    text = his_a.get(f"/api/v1/assessments/{assessment.pk}/hl7").content.decode()
    observations = _observations(text)
    assert observations["bone_age_months"] == ("96", "mo", "AA")
    assert observations["critical.bone_age_deviation"][2] == "AA"
    assert "Bone age more than 3 SD" in observations["critical.bone_age_deviation"][0]


def test_only_succeeded_assessments_have_a_message_and_other_hospitals_get_404(hospital_a, his_a, his_b):
    from inference.models import Assessment
    from tenants.context import tenant_context

    assessment = _succeeded_assessment(hospital_a)
    assert his_b.get(f"/api/v1/assessments/{assessment.pk}/hl7").status_code == 404
    with tenant_context(hospital_a.tenant):
        Assessment.objects.filter(pk=assessment.pk).update(status=Assessment.Status.RUNNING)
    refused = his_a.get(f"/api/v1/assessments/{assessment.pk}/hl7")
    assert refused.status_code == 409 and refused.json()["code"] == "assessment_not_succeeded"
