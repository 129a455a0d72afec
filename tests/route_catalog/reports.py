"""Routes of the reports app: an assessment's results as PDF, HTML, FHIR Bundle, DICOM SR and SEG downloads."""
from __future__ import annotations

from django.urls import reverse

DOWNLOADS = ("reports:assessment-report-pdf", "reports:assessment-report-html", "reports:assessment-fhir",
             "reports:assessment-dicom-sr", "reports:assessment-dicom-seg")

ROUTES = {name: ("object", "his") for name in DOWNLOADS}

# Every format hands out the patient's result: a download, like the original image.
AUDIT: dict[str, dict[str, str] | None] = {name: {"GET": "assessment.download"} for name in DOWNLOADS}


def object_url(name: str, b: dict) -> str | None:
    if name in DOWNLOADS:
        return reverse(name, kwargs={"assessment_id": b["assessment"]})
    return None


def audited_request(name: str, method: str, p: dict):
    if name not in DOWNLOADS:
        return None
    from tests.reports._support import ready_for_downloads

    ready_for_downloads(p)
    return p["his"].get(reverse(name, kwargs={"assessment_id": p["assessment"]})), (200,)
