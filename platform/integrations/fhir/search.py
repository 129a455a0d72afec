"""DiagnosticReport search parameters: status, _lastUpdated, based-on, _count (and _offset for paging)."""
from __future__ import annotations

import datetime as dt
import uuid

from django.db.models import Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from inference.models import Assessment

DEFAULT_COUNT = 20
MAX_COUNT = 100
# FHIR DiagnosticReport.status -> assessment statuses (reports.fhir.report_status is the other direction).
STATUS_MAP = {
    "registered": [Assessment.Status.QUEUED, Assessment.Status.RUNNING],
    "preliminary": [Assessment.Status.SUCCEEDED],
    "cancelled": [Assessment.Status.FAILED],
}
KNOWN_STATUSES = {"registered", "partial", "preliminary", "final", "amended", "corrected", "appended",
                  "cancelled", "entered-in-error", "unknown"}
_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")


class SearchInvalid(ValueError):
    """A search parameter whose value cannot be read; the message names it."""


def _instant_range(raw: str) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a FHIR date/dateTime value at its precision (a day, a month, a year, or an instant)."""
    value = raw.strip()
    try:
        if len(value) == 4:
            start = dt.datetime(int(value), 1, 1)
            end = dt.datetime(int(value) + 1, 1, 1)
        elif len(value) == 7:
            year, month = int(value[:4]), int(value[5:7])
            start = dt.datetime(year, month, 1)
            end = dt.datetime(year + (month == 12), month % 12 + 1, 1)
        elif len(value) == 10:
            start = dt.datetime.fromisoformat(value)
            end = start + dt.timedelta(days=1)
        else:
            parsed = parse_datetime(value)
            if parsed is None:
                raise ValueError(value)
            start, end = parsed, parsed + dt.timedelta(microseconds=1)
    except ValueError:
        raise SearchInvalid(f"_lastUpdated: {raw[:40]!r} is not a FHIR date or dateTime") from None
    if timezone.is_naive(start):
        start, end = timezone.make_aware(start, dt.timezone.utc), timezone.make_aware(end, dt.timezone.utc)
    return start, end


def last_updated_filter(values: list[str]) -> Q:
    """AND of every _lastUpdated value (e.g. ge2026-01-01&_lastUpdated=lt2026-02-01)."""
    query = Q()
    for raw in values:
        prefix = raw[:2] if raw[:2] in _PREFIXES else "eq"
        value = raw[2:] if raw[:2] in _PREFIXES else raw
        start, end = _instant_range(value)
        if prefix == "eq":
            query &= Q(last_updated__gte=start, last_updated__lt=end)
        elif prefix == "ne":
            query &= ~Q(last_updated__gte=start, last_updated__lt=end)
        elif prefix in ("gt", "sa"):
            query &= Q(last_updated__gte=end)
        elif prefix == "ge":
            query &= Q(last_updated__gte=start)
        elif prefix in ("lt", "eb"):
            query &= Q(last_updated__lt=start)
        elif prefix == "le":
            query &= Q(last_updated__lt=end)
        else:  # ap: approximately, within a day
            query &= Q(last_updated__gte=start - dt.timedelta(days=1), last_updated__lt=end + dt.timedelta(days=1))
    return query


def _status_filter(raw: str) -> Q:
    statuses = []
    for value in raw.split(","):
        value = value.strip()
        if value not in KNOWN_STATUSES:
            raise SearchInvalid(f"status: {value[:30]!r} is not a DiagnosticReport status")
        statuses += STATUS_MAP.get(value, [])
    return Q(status__in=statuses)


def _based_on_filter(raw: str) -> Q:
    ids = []
    for value in raw.split(","):
        value = value.strip().removeprefix("ServiceRequest/")
        try:
            ids.append(uuid.UUID(value))
        except ValueError:
            continue  # a reference to something this server never issued matches nothing
    return Q(pk__in=ids)


def parse_count(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_COUNT
    try:
        count = int(raw)
    except ValueError:
        raise SearchInvalid("_count must be an integer") from None
    if count < 0:
        raise SearchInvalid("_count must not be negative")
    return min(count, MAX_COUNT)


def parse_offset(raw: str | None) -> int:
    if raw is None or raw == "":
        return 0
    try:
        offset = int(raw)
    except ValueError:
        raise SearchInvalid("_offset must be an integer") from None
    if offset < 0:
        raise SearchInvalid("_offset must not be negative")
    return offset


def reports_search(queryset: QuerySet[Assessment], params) -> QuerySet[Assessment]:
    """Filter the hospital's assessments by the FHIR search parameters in `params` (a QueryDict)."""
    queryset = queryset.annotate(last_updated=Coalesce("finished_at", "started_at", "created_at"))
    if params.get("status"):
        queryset = queryset.filter(_status_filter(params["status"]))
    if params.getlist("_lastUpdated"):
        queryset = queryset.filter(last_updated_filter(params.getlist("_lastUpdated")))
    if params.get("based-on"):
        queryset = queryset.filter(_based_on_filter(params["based-on"]))
    return queryset.order_by("-last_updated", "-id")
