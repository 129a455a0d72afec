"""The OpenAPI document and its interactive reference page, served by the platform itself (no CDN).

`/api/v1/schema` answers the document as YAML (default) or JSON (`?format=json` or `Accept: application/json`
... `application/vnd.oai.openapi+json`); `/api/v1/docs` is Swagger UI, whose files come from the
drf-spectacular-sidecar package through `/api/v1/docs/assets/<file>`. All three are public: they describe the
contract and hold no hospital's data.
"""
from __future__ import annotations

import functools
import mimetypes
from pathlib import Path

import drf_spectacular_sidecar
from django.http import Http404, HttpResponse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

ASSETS_ROOT = (Path(drf_spectacular_sidecar.__file__).resolve().parent / "static" / "drf_spectacular_sidecar"
               / "swagger-ui-dist")
# The files the page loads, each its own route (api/urls.py): nothing else of the package, or the disk, is served.
DOCS_ASSETS = ("swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css", "favicon-32x32.png")


def asset_route_name(filename: str) -> str:
    return "docs-asset-" + filename.replace(".", "-")


class SchemaView(SpectacularAPIView):
    """The OpenAPI 3 document of /api/v1."""


class DocsView(SpectacularSwaggerView):
    """Swagger UI over the document, with the platform's own copies of its scripts and styles."""

    url_name = "api:schema"


@require_GET
@cache_control(max_age=86400, public=True)
def docs_asset(request, name: str):
    """One file of the Swagger UI distribution, from the installed drf-spectacular-sidecar package."""
    if name not in DOCS_ASSETS:
        raise Http404("no such asset")
    content, content_type = _asset(name)
    return HttpResponse(content, content_type=content_type)


@functools.lru_cache(maxsize=len(DOCS_ASSETS))
def _asset(name: str) -> tuple[bytes, str]:
    # Read once per process: four files, about 1.6 MB together.
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if content_type.startswith("text/") or content_type.endswith("javascript"):
        content_type += "; charset=utf-8"
    return (ASSETS_ROOT / name).read_bytes(), content_type
