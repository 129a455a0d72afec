"""Which version of a model answers an assessment.

Order: the hospital's pin, else the canary for its share of assessments, else the active version; with no
registered version at all, settings.MODEL_VERSIONS (a fresh install before any `model_register`). The canary
share is chosen from a hash of the assessment id, so a retry or a re-delivery goes to the same version, and
the split is stable and even across web pods. A version the model server reports as not ready is routed
around when there is something to fall back on (a canary or shadow falls back to the active version).
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from django.conf import settings

from registry.models import ModelVersion, TenantModelPin
from tenants.context import tenant_context
from tenants.models import Tenant

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Route:
    version: int
    precision: str
    is_demo: bool
    reason: str  # "pinned", "canary", "active", "default", "canary_not_ready"
    shadow_version: int | None = None


class NoServableVersion(RuntimeError):
    """Nothing can answer this model right now (every candidate version is not ready)."""


def canary_bucket(model_name: str, assessment_id) -> float:
    """A stable number in [0, 100) for this assessment: below the canary percent goes to the canary."""
    digest = hashlib.sha256(f"{model_name}:{assessment_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * 100


def choose_version(*, tenant: Tenant, model_name: str, assessment_id, is_ready=None) -> Route:
    """The route of one new assessment.

    `is_ready(model_name, version) -> bool | None` asks the model server (None: could not tell, e.g. the server
    is down; the worker then waits and retries as for any outage, so routing does not block on it).
    """
    versions = {row.version: row for row in ModelVersion.objects.filter(model_name=model_name)}
    shadow = next((row for row in versions.values() if row.state == ModelVersion.State.SHADOW), None)
    active = next((row for row in versions.values() if row.state == ModelVersion.State.ACTIVE), None)
    canary = next((row for row in versions.values() if row.state == ModelVersion.State.CANARY), None)

    def ready(row: ModelVersion) -> bool:
        if is_ready is None:
            return True
        return is_ready(model_name, row.version) is not False

    def route(row: ModelVersion, reason: str) -> Route:
        shadow_version = shadow.version if shadow is not None and shadow.version != row.version else None
        return Route(version=row.version, precision=row.precision, is_demo=row.is_demo, reason=reason,
                     shadow_version=shadow_version)

    with tenant_context(tenant):
        pin = TenantModelPin.objects.filter(model_name=model_name).first()
    if pin is not None and pin.version in versions:
        # A pin is the hospital's explicit choice (a validated version, say): never silently replaced.
        return route(versions[pin.version], "pinned")
    if canary is not None and canary_bucket(model_name, assessment_id) < canary.canary_percent:
        if ready(canary) or active is None:
            return route(canary, "canary")
        logger.warning("%s canary version %s is not ready; routing to the active version", model_name,
                       canary.version)
        return route(active, "canary_not_ready")
    if active is not None:
        return route(active, "active")
    if versions:
        raise NoServableVersion(f"{model_name} has registered versions but none is active.")
    version = int(settings.MODEL_VERSIONS.get(model_name, 1))
    from inference.catalog import load_model_card

    card = load_model_card(model_name, version)
    return Route(version=version, precision=card.precision, is_demo=card.demo, reason="default")
