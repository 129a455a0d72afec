"""Reads on the registry."""
from __future__ import annotations

from collections import defaultdict

from inference.models import Assessment
from registry.models import ModelVersion, TenantModelPin
from tenants.context import dangerously_operator_access


def versions_by_model() -> dict[str, list[ModelVersion]]:
    grouped: dict[str, list[ModelVersion]] = defaultdict(list)
    for row in ModelVersion.objects.order_by("model_name", "version"):
        grouped[row.model_name].append(row)
    return dict(grouped)


def versions_in_use(model_name: str) -> list[int]:
    """The versions the model server must keep loaded: every version that is not retired, every version a
    hospital is pinned to, and every retired version that work in flight (queued or running) still needs,
    so a promotion or a rollback never strands an accepted assessment."""
    in_use = set(
        ModelVersion.objects.filter(model_name=model_name)
        .exclude(state=ModelVersion.State.RETIRED)
        .values_list("version", flat=True)
    )
    with dangerously_operator_access(reason=f"versions in use of {model_name} across hospitals"):
        in_use |= set(TenantModelPin.objects.dangerously_all_tenants().filter(model_name=model_name)
                      .values_list("version", flat=True))
        in_flight = Assessment.objects.dangerously_all_tenants().filter(
            model_name=model_name, status__in=[Assessment.Status.QUEUED, Assessment.Status.RUNNING])
        in_use |= set(in_flight.values_list("model_version", flat=True))
        in_use |= {v for v in in_flight.exclude(shadow_version=None).values_list("shadow_version", flat=True)}
    return sorted(in_use)
