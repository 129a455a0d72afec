"""DICOMweb routes (platform/integrations/dicomweb_urls.py): STOW-RS, QIDO-RS, WADO-RS under /dicomweb/."""
from __future__ import annotations

import io
from pathlib import Path

from django.urls import reverse

CT = Path("/work/shared/data/dicom/highdicom/ct_image.dcm")

ROUTES = {
    "dicomweb:studies": ("collection", "his"),
    "dicomweb:study": ("object", "his"),
    "dicomweb:study-metadata": ("object", "his"),
    "dicomweb:study-series": ("object", "his"),
    "dicomweb:study-instances": ("object", "his"),
    "dicomweb:series": ("object", "his"),
    "dicomweb:series-metadata": ("object", "his"),
    "dicomweb:series-instances": ("object", "his"),
    "dicomweb:instance": ("object", "his"),
    "dicomweb:instance-metadata": ("object", "his"),
    "dicomweb:all-series": ("collection", "his"),
    "dicomweb:all-instances": ("collection", "his"),
}

_RETRIEVE = {"GET": "dicom.retrieve"}
_QUERY = {"GET": "dicom.query"}
AUDIT = {
    "dicomweb:studies": {"GET": "dicom.query", "POST": "dicom.store"},
    "dicomweb:study": {"GET": "dicom.retrieve", "POST": "dicom.store"},
    "dicomweb:study-metadata": _RETRIEVE,
    "dicomweb:study-series": _QUERY,
    "dicomweb:study-instances": _QUERY,
    "dicomweb:series": _RETRIEVE,
    "dicomweb:series-metadata": _RETRIEVE,
    "dicomweb:series-instances": _QUERY,
    "dicomweb:instance": _RETRIEVE,
    "dicomweb:instance-metadata": _RETRIEVE,
    "dicomweb:all-series": _QUERY,
    "dicomweb:all-instances": _QUERY,
}

BOUNDARY = "route-catalog-boundary"
STOW_CONTENT_TYPE = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'


def unique_ct(study_uid: str | None = None) -> tuple[bytes, dict]:
    """A real CT instance under new UIDs (so its identifiers belong to one hospital only), as Part 10 bytes."""
    import pydicom
    from pydicom.uid import generate_uid

    ds = pydicom.dcmread(CT)
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.AccessionNumber = "ACC" + ds.SOPInstanceUID[-10:]
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue(), {"dw_study": ds.StudyInstanceUID, "dw_series": ds.SeriesInstanceUID,
                               "dw_sop": ds.SOPInstanceUID, "dw_accession": ds.AccessionNumber}


def stow_body(*instances: bytes) -> bytes:
    body = b""
    for data in instances:
        body += f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode() + data + b"\r\n"
    return body + f"--{BOUNDARY}--\r\n".encode()


def stow(client, url: str, data: bytes):
    return client.generic("POST", url, stow_body(data), content_type=STOW_CONTENT_TYPE)


def b_objects(*, hospital_b, his_b, base):
    data, uids = unique_ct()
    response = stow(his_b, reverse("dicomweb:studies"), data)
    assert response.status_code == 200, response.content
    return uids


def _kwargs(name: str, b: dict) -> dict:
    kwargs = {"study_uid": b["dw_study"]}
    if name.startswith("dicomweb:series") or name.startswith("dicomweb:instance"):
        kwargs["series_uid"] = b["dw_series"]
    if name.startswith("dicomweb:instance"):
        kwargs["sop_uid"] = b["dw_sop"]
    return kwargs


def object_url(name: str, b: dict) -> str | None:
    if name in ROUTES and ROUTES[name][0] == "object":
        return reverse(name, kwargs=_kwargs(name, b))
    return None


def audited_request(name: str, method: str, p: dict):
    if not name.startswith("dicomweb:"):
        return None
    from tests.audit._support import last_event_id

    his = p["his"]
    if "dw_study" not in p:
        data, uids = unique_ct()
        assert stow(his, reverse("dicomweb:studies"), data).status_code == 200
        p.update(uids)
    if method == "POST":
        study_uid = p["dw_study"] if name == "dicomweb:study" else None
        data, _ = unique_ct(study_uid)
        p["_mark"] = last_event_id()
        url = reverse(name, kwargs={"study_uid": study_uid}) if study_uid else reverse(name)
        return stow(his, url, data), (200,)
    p["_mark"] = last_event_id()
    url = reverse(name, kwargs=_kwargs(name, p)) if ROUTES[name][0] == "object" else reverse(name)
    return his.get(url), (200,)
