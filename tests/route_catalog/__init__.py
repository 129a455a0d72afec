"""Every URL route's classification, collected from one module per area of the platform.

Two suites read this: tests/tenants/test_cross_tenant_routes.py (can hospital A reach hospital B's objects through
the route?) and tests/audit/test_audited_endpoints.py (which audit event does each method write?). Both compare the
classified names with the URL resolver, so a new route without an entry fails them.

An area module (core.py, portal.py, reports.py, webhooks.py, integrations.py, ...) may define:
- ROUTES: route name -> (kind, principal). kind: "object" takes one of B's ids; "collection" lists; "membership"
  switches hospital; "public" and "account" hold no hospital data. principal: "his", "radiologist", "admin",
  "auditor", "billing", "clinician" (hospital A's API key or people).
- AUDIT: route name -> {HTTP method: audit event one successful request writes} or None (no patient data).
- object_url(name, b) -> str | None: the URL of hospital B's object for an "object" route of the area.
- b_objects(*, hospital_b, his_b, base) -> dict: more of hospital B's identifiers (merged into `b`; their values
  must never appear in a body served to hospital A).
- audited_request(name, method, p) -> (response, ok_statuses) | None: one successful request for AUDIT's check.
"""
from __future__ import annotations

import importlib
import pkgutil

AREAS = [importlib.import_module(f"{__name__}.{m.name}") for m in pkgutil.iter_modules(__path__)
         if not m.name.startswith("_")]

ROUTES: dict = {}
AUDIT: dict = {}
for _area in AREAS:
    for _name in getattr(_area, "ROUTES", {}):
        assert _name not in ROUTES, f"{_name} classified twice"
    ROUTES.update(getattr(_area, "ROUTES", {}))
    AUDIT.update(getattr(_area, "AUDIT", {}))


def object_url(name: str, b: dict) -> str:
    for area in AREAS:
        builder = getattr(area, "object_url", None)
        url = builder(name, b) if builder else None
        if url:
            return url
    raise AssertionError(f"no object_url for {name}: add it to its area module in tests/route_catalog")


def b_objects(*, hospital_b, his_b, base: dict) -> dict:
    extra: dict = {}
    for area in AREAS:
        builder = getattr(area, "b_objects", None)
        if builder:
            extra.update(builder(hospital_b=hospital_b, his_b=his_b, base={**base, **extra}))
    return extra


def audited_request(name: str, method: str, p: dict):
    for area in AREAS:
        builder = getattr(area, "audited_request", None)
        outcome = builder(name, method, p) if builder else None
        if outcome is not None:
            return outcome
    raise AssertionError(f"no audited_request for {method} {name}: add it to its area module")
