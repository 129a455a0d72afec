"""The OpenAPI document and its interactive reference page, served by the platform itself (no CDN).

`/api/v1/schema` answers the document as YAML (default) or JSON (`?format=json` or `Accept: application/json`
... `application/vnd.oai.openapi+json`); `/api/v1/docs` is Swagger UI, whose files come from the
drf-spectacular-sidecar package through `/api/v1/docs/assets/...`. All three are public: they describe the
contract and hold no hospital's data.
"""
from __future__ import annotations

from pathlib import Path

import drf_spectacular_sidecar
from django.http import Http404
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET
from django.views.static import serve
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

ASSETS_ROOT = Path(drf_spectacular_sidecar.__file__).resolve().parent / "static" / "drf_spectacular_sidecar"
# Only the Swagger UI distribution is served; nothing else of the package (or the disk) is reachable.
_SERVED_DIRECTORY = "swagger-ui-dist/"


class SchemaView(SpectacularAPIView):
    """The OpenAPI 3 document of /api/v1."""


class DocsView(SpectacularSwaggerView):
    """Swagger UI over the document, with the platform's own copies of its scripts and styles."""

    url_name = "api:schema"


@require_GET
@cache_control(max_age=86400, public=True)
def docs_asset(request, name: str):
    """One file of the Swagger UI distribution (django.views.static.serve refuses paths that leave the root)."""
    if not name.startswith(_SERVED_DIRECTORY):
        raise Http404("no such asset")
    return serve(request, name, document_root=str(ASSETS_ROOT))
