"""The example HIS integration (examples/his_client.py) runs as its own process against the running platform over
real HTTP: it registers a webhook, orders a bone age as a FHIR ServiceRequest, receives and verifies the signed
webhook, and fetches the FHIR DiagnosticReport."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import HAND_DX

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "his_client.py"


@pytest.mark.slow
def test_the_example_his_client_orders_verifies_the_webhook_and_reads_the_fhir_report(
        live_server, hospital_a, celery_worker, unused_tcp_port, tmp_path):
    from tenants.services import api_key_create

    _row, key = api_key_create(tenant=hospital_a.tenant, name="example HIS",
                               scopes=["submit", "read", "manage_webhooks"])
    script = f"""
import json, sys
sys.path.insert(0, {str(EXAMPLE.parent)!r})
import his_client
args = his_client.argparse.Namespace(
    base_url={live_server.url!r}, api_key={key!r}, dicom={str(HAND_DX)!r}, model="bone_age", gender="female",
    birth_date="2015-03-01", order_date="2025-09-01", accession="ACC-EXAMPLE-1",
    listen="127.0.0.1:{unused_tcp_port}", public_url="", timeout=150.0)
seen = his_client.run(args)
print("RESULT " + json.dumps(seen))
"""
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=240)
    assert completed.returncode == 0, completed.stderr[-3000:]
    seen = json.loads(completed.stdout.split("RESULT ", 1)[1])

    assert seen["event"]["type"] == "assessment.succeeded"
    assert seen["event"]["data"]["assessment"]["id"] == seen["order"]["id"]
    assert seen["rejected"] == []  # every delivery passed the documented signature check
    report = seen["diagnostic_report"]
    assert report["resourceType"] == "DiagnosticReport"
    assert "demo, not for diagnostic use" in report["conclusion"]
    assert "ordered: ServiceRequest/" in completed.stdout and "signature verified" in completed.stdout


def test_the_example_rejects_an_altered_or_stale_delivery():
    sys.path.insert(0, str(EXAMPLE.parent))
    import time

    import his_client

    secret, body = "whsec_example", json.dumps({"id": "evt-1", "type": "assessment.succeeded"}).encode()
    stamp = str(int(time.time()))
    import hashlib
    import hmac

    signature = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    headers = {"Webhook-Id": "evt-1", "Webhook-Timestamp": stamp, "Webhook-Signature": f"v1={signature}"}
    assert his_client.verify_webhook(secret, headers, body)["id"] == "evt-1"
    with pytest.raises(his_client.WebhookVerificationError, match="signature"):
        his_client.verify_webhook(secret, headers, body.replace(b"succeeded", b"failed"))
    stale = {**headers, "Webhook-Timestamp": str(int(time.time()) - 3600)}
    with pytest.raises(his_client.WebhookVerificationError, match="tolerance"):
        his_client.verify_webhook(secret, stale, body)
