"""Cursor pagination of every API list: `limit` (capped), an opaque `cursor`, and `next`/`previous` links.

Keyset ("seek") pagination over the list's ordering with the primary key as tie-breaker: a page is the rows
after (or before) the last row the client saw, so rows inserted meanwhile never shift a page or repeat a row,
and deep pages cost what the first does. The cursor is the position signed with the platform's secret
(django.core.signing): opaque to clients, and a cursor that was altered or made up is 400 `invalid_cursor`
rather than a query on arbitrary values. A cursor belongs to its list and filters; sent with other filters it
still pages correctly through the rows that match them.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from urllib.parse import urlencode

from django.core import signing
from django.db.models import Q, QuerySet

from api.problems import ApiProblem

CURSOR_PARAM = "cursor"
LIMIT_PARAM = "limit"
_SALT = "api.pagination.cursor"


@dataclass
class Page:
    """One page of a list: the rows in list order, and the query strings of the neighbouring pages."""

    items: list
    next: str | None
    previous: str | None

    def envelope(self, results: list) -> dict:
        """The list body every list answers with: `results` and the `next`/`previous` page links (or null)."""
        return {"results": results, "next": self.next, "previous": self.previous}


def parse_limit(raw: str | None, *, default: int, maximum: int) -> int:
    """`limit` as an int in 1..maximum (a larger one is capped); ApiProblem 400 `invalid_limit` when not a
    positive integer."""
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ApiProblem(status=400, code="invalid_limit", detail="limit must be a positive integer.") from None
    if value < 1:
        raise ApiProblem(status=400, code="invalid_limit", detail="limit must be a positive integer.")
    return min(value, maximum)


def _invalid_cursor() -> ApiProblem:
    return ApiProblem(status=400, code="invalid_cursor",
                      detail="cursor is not one this list handed out; start again without it.")


def _encode_value(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (int, str)) or value is None:
        return value
    return str(value)  # UUIDs


def _position_of(row, fields: tuple[str, ...]) -> list:
    values = []
    for field in fields:
        value = row
        for part in field.split("__"):
            value = getattr(value, part)
        values.append(_encode_value(value))
    return values


def _after(fields: tuple[str, ...], descending: bool, position: list) -> Q:
    """Rows strictly after `position` in the ordering: (a, b, c) > (x, y, z) spelled out for the ORM."""
    op = "lt" if descending else "gt"
    condition = Q()
    for index in range(len(fields)):
        equal = {fields[i]: position[i] for i in range(index)}
        condition |= Q(**equal, **{f"{fields[index]}__{op}": position[index]})
    return condition


def paginate(request, queryset: QuerySet, *, ordering: tuple[str, ...], default_limit: int = 50,
             max_limit: int = 200) -> Page:
    """One page of `queryset` in `ordering` (all ascending or all "-"descending; the last field unique, e.g. the
    primary key) from the request's `limit` and `cursor`. Raises ApiProblem 400 `invalid_limit`/`invalid_cursor`.
    """
    descending = ordering[0].startswith("-")
    fields = tuple(name.lstrip("-") for name in ordering)
    assert all(name.startswith("-") == descending for name in ordering), "mixed orderings are not supported"
    limit = parse_limit(request.query_params.get(LIMIT_PARAM), default=default_limit, maximum=max_limit)
    raw_cursor = request.query_params.get(CURSOR_PARAM)
    backwards = False
    if raw_cursor:
        try:
            payload = signing.loads(raw_cursor, salt=_SALT)
            position, direction = payload["p"], payload["d"]
        except (signing.BadSignature, KeyError, TypeError, ValueError):
            raise _invalid_cursor() from None
        if direction not in ("n", "p") or not isinstance(position, list) or len(position) != len(fields):
            raise _invalid_cursor()
        backwards = direction == "p"
        # Going back: the rows before the position, read in reverse order, then put back in list order.
        queryset = queryset.filter(_after(fields, descending != backwards, position))
    order = [("-" if descending != backwards else "") + name for name in fields]
    rows = list(queryset.order_by(*order)[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
    has_next = more if not backwards else True
    has_previous = bool(raw_cursor) if not backwards else more
    next_link = _link(request, rows[-1], fields, "n") if rows and has_next else None
    previous_link = _link(request, rows[0], fields, "p") if rows and has_previous else None
    return Page(items=rows, next=next_link, previous=previous_link)


def _link(request, row, fields: tuple[str, ...], direction: str) -> str:
    cursor = signing.dumps({"p": _position_of(row, fields), "d": direction}, salt=_SALT, compress=True)
    params = [(name, value) for name, values in request.query_params.lists() if name != CURSOR_PARAM
              for value in values]
    params.append((CURSOR_PARAM, cursor))
    return f"{request.path}?{urlencode(params)}"
