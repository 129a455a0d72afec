"""The API contract's routes (issue 9): the OpenAPI document, its reference page and the page's own files.

All public: they describe the API and hold no hospital's data, so they are the same for every caller.
"""
from __future__ import annotations

from api.docs_views import DOCS_ASSETS, asset_route_name

_PUBLIC = ["api:schema", "api:docs", *[f"api:{asset_route_name(name)}" for name in DOCS_ASSETS]]

ROUTES = {name: ("public", "his") for name in _PUBLIC}

AUDIT: dict[str, dict[str, str] | None] = dict.fromkeys(_PUBLIC)  # no patient data
