"""QIDO-RS: parse the query (matching keys, limit, offset, includefield) and shape DICOM JSON answers."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from pydicom.dataset import Dataset

from api.problems import ApiProblem
from integrations.dicomweb.selectors import DicomObject, ObjectFilter, SeriesSummary, StudySummary

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

# Matching keys by keyword and by tag (PS3.18 8.3.4: either form may be used).
_KEYS = {
    "StudyInstanceUID": "0020000D", "AccessionNumber": "00080050", "StudyDate": "00080020",
    "ModalitiesInStudy": "00080061", "SeriesInstanceUID": "0020000E", "Modality": "00080060",
    "SOPInstanceUID": "00080018", "SOPClassUID": "00080016",
}
_BY_TAG = {tag: keyword for keyword, tag in _KEYS.items()}
_CONTROL = {"limit", "offset", "includefield", "fuzzymatching"}
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_DATE = re.compile(r"^\d{8}$")

STUDY_KEYS = {"StudyInstanceUID", "AccessionNumber", "StudyDate", "ModalitiesInStudy"}
SERIES_KEYS = {"SeriesInstanceUID", "Modality"}
INSTANCE_KEYS = {"SOPInstanceUID", "SOPClassUID"}


@dataclass
class Query:
    match: ObjectFilter
    limit: int
    offset: int


def _bad(detail: str) -> ApiProblem:
    return ApiProblem(status=400, code="invalid_query", detail=detail)


def _date(text: str) -> dt.date:
    if not _DATE.match(text):
        raise _bad("StudyDate must be YYYYMMDD or a range YYYYMMDD-YYYYMMDD (either end may be left open).")
    try:
        return dt.datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        raise _bad("StudyDate is not a calendar date.") from None


def _date_range(value: str) -> tuple[dt.date | None, dt.date | None]:
    if "-" in value:
        start, _, end = value.partition("-")
        if not start and not end:
            raise _bad("StudyDate range needs at least one end.")
        return (_date(start) if start else None, _date(end) if end else None)
    day = _date(value)
    return day, day


def _uids(values: list[str], keyword: str) -> list[str]:
    uids = [uid.strip() for value in values for uid in value.split(",") if uid.strip()]
    for uid in uids:
        if len(uid) > 64 or not _UID.match(uid):
            raise _bad(f"{keyword} must be a list of DICOM UIDs.")
    return uids


def _int(value: str, name: str, default: int) -> int:
    if value in (None, ""):
        return default
    if not value.isdigit():
        raise _bad(f"{name} must be a non-negative integer.")
    return int(value)


def parse_query(params, *, allowed: set[str], fixed: ObjectFilter | None = None) -> Query:
    """The QIDO-RS query of a request (`params`: a QueryDict) at a level that allows the keys in `allowed`.

    `fixed` carries the UIDs from the path (/studies/{study}/series...). A key the level does not support is a 400
    `invalid_query` rather than ignored: silently dropping, say, a SeriesInstanceUID filter would hand the PACS
    more than it asked for.
    """
    match = fixed or ObjectFilter()
    for raw_key in params.keys():
        if raw_key in _CONTROL:
            continue
        keyword = _BY_TAG.get(raw_key.upper(), raw_key)
        if keyword not in allowed:
            raise _bad(f"{raw_key} is not a supported matching key here; supported: {', '.join(sorted(allowed))}.")
        values = [v for v in params.getlist(raw_key) if v != ""]
        if not values:
            continue  # an empty value is universal matching
        if keyword == "StudyInstanceUID":
            match.study_uids = _narrow(match.study_uids, _uids(values, keyword))
        elif keyword == "SeriesInstanceUID":
            match.series_uids = _narrow(match.series_uids, _uids(values, keyword))
        elif keyword == "SOPInstanceUID":
            match.sop_uids = _narrow(match.sop_uids, _uids(values, keyword))
        elif keyword == "SOPClassUID":
            match.sop_class_uids = _uids(values, keyword)
        elif keyword in {"Modality", "ModalitiesInStudy"}:
            match.modalities = [m.strip().upper() for v in values for m in v.split(",") if m.strip()]
        elif keyword == "AccessionNumber":
            match.accession = values[0][:64]
        elif keyword == "StudyDate":
            match.date_range = _date_range(values[0])
    limit = min(_int(params.get("limit"), "limit", DEFAULT_LIMIT), MAX_LIMIT)
    offset = _int(params.get("offset"), "offset", 0)
    return Query(match=match, limit=limit, offset=offset)


def _narrow(current: list[str] | None, wanted: list[str]) -> list[str]:
    # A UID fixed by the path and one given as a key must both hold.
    return wanted if current is None else [uid for uid in wanted if uid in current]


def _common(ds: Dataset) -> None:
    ds.InstanceAvailability = "ONLINE"


def study_json(*, study_uid: str, accession: str, study_date, summary: StudySummary, url: str) -> dict:
    ds = Dataset()
    if study_date:
        ds.StudyDate = study_date.strftime("%Y%m%d")
    ds.AccessionNumber = accession or None
    ds.ModalitiesInStudy = sorted(summary.modalities) or None
    ds.StudyInstanceUID = study_uid
    ds.NumberOfStudyRelatedSeries = len(summary.series)
    ds.NumberOfStudyRelatedInstances = summary.instances
    ds.RetrieveURL = url
    _common(ds)
    return ds.to_json_dict()


def series_json(*, series: SeriesSummary, url: str) -> dict:
    ds = Dataset()
    ds.StudyInstanceUID = series.study_uid
    ds.Modality = series.modality or None
    ds.SeriesInstanceUID = series.series_uid
    ds.NumberOfSeriesRelatedInstances = series.instances
    ds.RetrieveURL = url
    _common(ds)
    return ds.to_json_dict()


def instance_json(*, obj: DicomObject, url: str) -> dict:
    ds = Dataset()
    ds.SOPClassUID = obj.sop_class_uid or None
    ds.SOPInstanceUID = obj.sop_uid
    ds.StudyInstanceUID = obj.study_uid
    ds.SeriesInstanceUID = obj.series_uid
    ds.Modality = obj.modality or None
    if obj.instance_number is not None:
        ds.InstanceNumber = obj.instance_number
    if obj.rows:
        ds.Rows = obj.rows
        ds.Columns = obj.columns
    if obj.transfer_syntax_uid:
        ds.AvailableTransferSyntaxUID = obj.transfer_syntax_uid
    ds.RetrieveURL = url
    _common(ds)
    return ds.to_json_dict()
