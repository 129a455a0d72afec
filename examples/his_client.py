"""An example HIS integration, standard library only: order an assessment, receive the signed webhook, fetch the
FHIR report.

    python examples/his_client.py --base-url https://mip.example --api-key mip_xxx_yyy \
        --dicom hand.dcm --model bone_age --gender female --birth-date 2015-03-01 \
        --listen 127.0.0.1:8765 --public-url https://his.example/mip-webhook

What it does, in the order an HIS would:
1. registers (once) a webhook endpoint for `assessment.succeeded`, `assessment.failed` and
   `assessment.critical_finding` and keeps the signing secret it is shown once (`POST /api/v1/webhooks`; the API key
   needs the `manage_webhooks` scope, or an administrator registers the endpoint in the portal);
2. orders the assessment as a FHIR R4 ServiceRequest with the image inline (`POST /fhir/r4/ServiceRequest`), with an
   `Idempotency-Key` so a retried order after a lost answer is the same order;
3. waits for the webhook, verifying its signature with the recipe of docs/webhooks.md (HMAC-SHA256 over
   "<timestamp>.<body>", a 5-minute tolerance against replays), and answers 2xx at once;
4. fetches the result as a FHIR DiagnosticReport (`GET /fhir/r4/DiagnosticReport/<id>`) and prints its conclusion,
   which carries "demo, not for diagnostic use" while the platform runs demo models.

Run by tests/examples/test_his_client.py against a running platform. Copy and adapt; no platform code is imported.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.server
import json
import queue
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

ASSESSMENT_CODES = "https://mip.example/fhir/CodeSystem/mip-assessments"
EVENTS = ["assessment.succeeded", "assessment.failed", "assessment.critical_finding"]


class WebhookVerificationError(Exception):
    pass


def verify_webhook(secret: str, headers: dict, body: bytes, tolerance_s: int = 300) -> dict:
    """docs/webhooks.md's recipe: the event if the delivery is authentic and fresh, else WebhookVerificationError."""
    lower = {key.lower(): value for key, value in headers.items()}
    event_id, timestamp = lower.get("webhook-id"), lower.get("webhook-timestamp")
    signatures = lower.get("webhook-signature")
    if not (event_id and timestamp and signatures):
        raise WebhookVerificationError("missing Webhook-Id, Webhook-Timestamp or Webhook-Signature")
    try:
        signed_at = int(timestamp)
    except ValueError:
        raise WebhookVerificationError("Webhook-Timestamp is not an integer") from None
    if abs(time.time() - signed_at) > tolerance_s:
        raise WebhookVerificationError("timestamp outside the tolerance: a stale or replayed delivery")
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    if not any(version == "v1" and hmac.compare_digest(signature.encode(), expected.encode())
               for version, _, signature in (entry.partition("=") for entry in signatures.split())):
        raise WebhookVerificationError("signature mismatch: altered body or wrong secret")
    event = json.loads(body)
    if event.get("id") != event_id:
        raise WebhookVerificationError("Webhook-Id does not match the signed body")
    return event


class Platform:
    """A minimal client of the platform's REST and FHIR APIs."""

    def __init__(self, base_url: str, api_key: str, timeout_s: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout_s = timeout_s

    def request(self, method: str, path: str, body: dict | None = None, *, content_type: str = "application/json",
                headers: dict | None = None) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers={
            "Authorization": f"Api-Key {self.api_key}", "Accept": f"{content_type}, application/problem+json",
            **({"Content-Type": content_type} if data is not None else {}), **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:  # RFC 9457 problem or FHIR OperationOutcome: keep the body
            return error.code, json.loads(error.read() or b"{}")

    def register_webhook(self, url: str) -> tuple[str, str]:
        """Register an endpoint; returns (endpoint id, signing secret — shown only in this answer)."""
        status, body = self.request("POST", "/api/v1/webhooks", {"url": url, "event_types": EVENTS,
                                                                  "description": "example HIS"})
        if status != 201:
            raise RuntimeError(f"webhook registration refused: {status} {body}")
        return body["id"], body["secret"]

    def order(self, *, dicom: bytes, model: str, gender: str, birth_date: str, order_date: str,
              accession: str) -> dict:
        """Order an assessment as a FHIR ServiceRequest with the image inline."""
        service_request = {
            "resourceType": "ServiceRequest", "status": "active", "intent": "order",
            "identifier": [{"system": "urn:example:his:accession", "value": accession}],
            "code": {"coding": [{"system": ASSESSMENT_CODES, "code": model}]},
            "subject": {"reference": "#patient"},
            "occurrenceDateTime": order_date,
            "contained": [
                {"resourceType": "Patient", "id": "patient", "gender": gender, "birthDate": birth_date},
                {"resourceType": "Binary", "id": "image", "contentType": "application/dicom",
                 "data": base64.b64encode(dicom).decode()},
            ],
        }
        # The same key on a retry makes the platform answer with the first order instead of a second one.
        status, body = self.request("POST", "/fhir/r4/ServiceRequest", service_request,
                                    content_type="application/fhir+json",
                                    headers={"Idempotency-Key": f"order-{accession}"})
        if status not in (200, 201):
            raise RuntimeError(f"order refused: {status} {body}")
        return body

    def diagnostic_report(self, assessment_id: str) -> dict:
        status, body = self.request("GET", f"/fhir/r4/DiagnosticReport/{assessment_id}",
                                    content_type="application/fhir+json")
        if status != 200:
            raise RuntimeError(f"report not available: {status} {body}")
        return body


class WebhookReceiver:
    """An HTTP endpoint on `host:port` that verifies each delivery and queues the events."""

    def __init__(self, host: str, port: int):
        self.events: queue.Queue = queue.Queue()
        self.rejected: list[str] = []
        self.secret = ""
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    event = verify_webhook(receiver.secret, dict(self.headers.items()), body)
                except WebhookVerificationError as error:
                    receiver.rejected.append(str(error))
                    self.send_response(400)
                    self.end_headers()
                    return
                self.send_response(204)  # answer at once; process after
                self.end_headers()
                receiver.events.put(event)

            def log_message(self, *args):  # keep the console for the example's own output
                pass

        self.server = http.server.ThreadingHTTPServer((host, port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/mip-webhook"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, assessment_id: str, timeout_s: float) -> dict:
        """The first terminal event (succeeded or failed) of the assessment."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                event = self.events.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                break
            if event["data"].get("assessment", {}).get("id") == assessment_id and event["type"] in (
                    "assessment.succeeded", "assessment.failed"):
                return event
        raise TimeoutError(f"no result webhook for {assessment_id} within {timeout_s:.0f} s")


def run(args) -> dict:
    """The whole integration; returns what it saw (for the test)."""
    platform = Platform(args.base_url, args.api_key)
    host, port = args.listen.rsplit(":", 1)
    with WebhookReceiver(host, int(port)) as receiver:
        endpoint_id, receiver.secret = platform.register_webhook(args.public_url or receiver.url)
        with open(args.dicom, "rb") as handle:
            order = platform.order(dicom=handle.read(), model=args.model, gender=args.gender,
                                   birth_date=args.birth_date, order_date=args.order_date,
                                   accession=args.accession or uuid.uuid4().hex[:12])
        print(f"ordered: ServiceRequest/{order['id']} ({order['status']})")
        event = receiver.wait_for(order["id"], args.timeout)
        print(f"webhook: {event['type']} (signature verified, event {event['id']})")
        report = platform.diagnostic_report(order["id"])
        diagnostic = next(entry["resource"] for entry in report.get("entry", [report])
                          if entry.get("resource", entry).get("resourceType") == "DiagnosticReport") \
            if report.get("resourceType") == "Bundle" else report
        print(f"report: {diagnostic.get('status')}: {diagnostic.get('conclusion')}")
        return {"endpoint_id": endpoint_id, "order": order, "event": event, "report": report,
                "diagnostic_report": diagnostic, "rejected": list(receiver.rejected)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--dicom", required=True)
    parser.add_argument("--model", default="bone_age")
    parser.add_argument("--gender", default="female", choices=["female", "male"])
    parser.add_argument("--birth-date", default="2015-03-01")
    parser.add_argument("--order-date", default=time.strftime("%Y-%m-%d"))
    parser.add_argument("--accession", default="")
    parser.add_argument("--listen", default="127.0.0.1:8765", help="host:port of the webhook receiver")
    parser.add_argument("--public-url", default="", help="URL the platform can reach the receiver at")
    parser.add_argument("--timeout", type=float, default=120.0)
    run(parser.parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
