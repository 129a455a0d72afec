"""The seam with the Helm chart: the chart's `models` values are the source of truth in a cluster.

`helm upgrade` renders the values both into OVMS's config.json (a ConfigMap that OVMS hot-reloads) and into a
desired-state document that a post-upgrade hook Job applies here (`manage.py model_sync --desired FILE`), so one
upgrade moves the model server and the platform's routing together, and a rollback is one `helm upgrade` (or
`helm rollback`) to the previous values. The document has the shape of the values:

    {"bone_age": {"active": 2, "canary": {"version": 3, "percent": 10}, "shadow": 4,
                  "pins": {"hospital-slug": 1}}}

Applying it is idempotent: versions are registered from the repository if needed, and only differences are
changed (each change recorded as a RolloutEvent by `actor`). Pins absent from the document are removed.
"""
from __future__ import annotations

from typing import Any

from django.db import transaction

from registry import services
from registry.models import ModelVersion, TenantModelPin
from tenants.context import dangerously_operator_access
from tenants.models import Tenant


class DesiredStateError(ValueError):
    pass


def _validate(desired: dict[str, Any]) -> None:
    if not isinstance(desired, dict):
        raise DesiredStateError("the desired state must map model names to their rollout")
    for model_name, spec in desired.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("active"), int):
            raise DesiredStateError(f"{model_name}: 'active' must be an integer version")
        canary = spec.get("canary")
        if canary is not None and not (isinstance(canary, dict) and isinstance(canary.get("version"), int)
                                       and 0 <= int(canary.get("percent", -1)) <= 100):
            raise DesiredStateError(f"{model_name}: 'canary' needs an integer version and a percent 0-100")
        if spec.get("shadow") is not None and not isinstance(spec["shadow"], int):
            raise DesiredStateError(f"{model_name}: 'shadow' must be an integer version or null")
        pins = spec.get("pins") or {}
        if not isinstance(pins, dict) or not all(isinstance(v, int) for v in pins.values()):
            raise DesiredStateError(f"{model_name}: 'pins' must map hospital slugs to integer versions")


@transaction.atomic
def apply_desired_state(desired: dict[str, Any], *, actor: str) -> list[str]:
    """Bring the registry in line with `desired`. Returns the changes made (empty when already in line)."""
    _validate(desired)
    changes: list[str] = []
    for model_name, spec in desired.items():
        wanted = {spec["active"]}
        if spec.get("canary"):
            wanted.add(spec["canary"]["version"])
        if spec.get("shadow") is not None:
            wanted.add(spec["shadow"])
        wanted |= set((spec.get("pins") or {}).values())
        registered = set(ModelVersion.objects.filter(model_name=model_name).values_list("version", flat=True))
        for version in sorted(wanted - registered):
            services.model_version_register(model_name=model_name, version=version, actor=actor)
            changes.append(f"{model_name}: registered v{version}")

        state = {row.version: row for row in ModelVersion.objects.filter(model_name=model_name)}
        current_canary = next((r for r in state.values() if r.state == ModelVersion.State.CANARY), None)
        current_shadow = next((r for r in state.values() if r.state == ModelVersion.State.SHADOW), None)
        canary = spec.get("canary")
        # Clear canary/shadow first so the new active version is free to take its place.
        if current_canary and (not canary or current_canary.version != canary["version"]
                               or current_canary.canary_percent != canary["percent"]):
            services.model_version_set_canary(model_name=model_name, version=None, percent=0, actor=actor)
            changes.append(f"{model_name}: canary v{current_canary.version} stopped")
        if current_shadow and current_shadow.version != spec.get("shadow"):
            services.model_version_set_shadow(model_name=model_name, version=None, actor=actor)
            changes.append(f"{model_name}: shadow v{current_shadow.version} stopped")
        if state[spec["active"]].state != ModelVersion.State.ACTIVE:
            services.model_version_promote(model_name=model_name, version=spec["active"], actor=actor)
            changes.append(f"{model_name}: v{spec['active']} active")
        if canary and canary["percent"] and (not current_canary or current_canary.version != canary["version"]
                                              or current_canary.canary_percent != canary["percent"]):
            services.model_version_set_canary(model_name=model_name, version=canary["version"],
                                              percent=canary["percent"], actor=actor)
            changes.append(f"{model_name}: canary v{canary['version']} at {canary['percent']}%")
        if spec.get("shadow") is not None and (not current_shadow or current_shadow.version != spec["shadow"]):
            services.model_version_set_shadow(model_name=model_name, version=spec["shadow"], actor=actor)
            changes.append(f"{model_name}: shadow v{spec['shadow']}")
        changes += _sync_pins(model_name, spec.get("pins") or {}, actor)
    return changes


def _sync_pins(model_name: str, wanted: dict[str, int], actor: str) -> list[str]:
    changes = []
    tenants = {t.slug: t for t in Tenant.objects.all()}
    unknown = sorted(set(wanted) - set(tenants))
    if unknown:
        raise DesiredStateError(f"{model_name}: pins name unknown hospitals: {', '.join(unknown)}")
    with dangerously_operator_access(reason=f"model_sync of {model_name} pins"):
        current = {pin.tenant_id: pin.version
                   for pin in TenantModelPin.objects.dangerously_all_tenants().filter(model_name=model_name)}
    for slug, tenant in tenants.items():
        have, want = current.get(tenant.id), wanted.get(slug)
        if have != want:
            services.tenant_model_pin(tenant=tenant, model_name=model_name, version=want, actor=actor)
            changes.append(f"{model_name}: {slug} " + (f"pinned to v{want}" if want else "unpinned"))
    return changes
