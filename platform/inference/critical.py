"""Critical-finding rules per assessment (docs/catalogue.md, "Critical findings").

``critical_findings(assessment_name, result)`` reads an assessment's result JSON and returns the findings that must
raise its priority and notify the hospital, as ``[{"code", "message"}]``. Pure: no database, no notification; the
caller sets ``Assessment.is_critical`` and notifies. Missing or null values never raise and never trigger (a result
without a measurement has nothing to alert on); an unknown assessment has no rules.

The thresholds are the catalogue's, chosen to mirror common clinical conventions, and are not a substitute for a
hospital's own escalation policy.
"""
from __future__ import annotations

import math
from typing import Any, Callable

# Lung nodule: 8 mm or more (solid nodules >= 8 mm call for CT follow-up, PET/CT or tissue sampling in the Fleischner
# Society 2017 guideline). Either the equivalent-sphere or the longest axial diameter reaching it counts: an alert
# should not hinge on which of two reasonable size measures was used.
NODULE_CRITICAL_DIAMETER_MM = 8.0
# Cardiac function: LV ejection fraction under 35% (severely reduced; the threshold of device-therapy guidelines).
LV_EF_CRITICAL_PERCENT = 35.0
# Bone age: more than three standard deviations from chronological age, either way.
BONE_AGE_CRITICAL_Z = 3.0
# Mammography: BI-RADS-style category 4 (suspicious) or 5.
BIRADS_CRITICAL_CATEGORY = 4


def finite_number(value: Any) -> float | None:
    """`value` as a finite float, or None (missing, boolean, not a number, NaN or infinite)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _lung_nodule(result: dict[str, Any]) -> list[dict[str, str]]:
    findings = []
    for nodule in result.get("nodules") or []:
        if not isinstance(nodule, dict):
            continue
        sizes = [(size, label) for size, label in (
            (finite_number(nodule.get("diameter_mm")), "equivalent-sphere diameter"),
            (finite_number(nodule.get("longest_axial_diameter_mm")), "longest axial diameter")) if size is not None]
        if sizes and max(sizes)[0] >= NODULE_CRITICAL_DIAMETER_MM:
            size, label = max(sizes)
            name = f"Lung nodule {nodule['id']}" if nodule.get("id") is not None else "A lung nodule"
            findings.append({
                "code": "nodule_8mm_or_more",
                "message": f"{name}: {label} {size:.1f} mm "
                           f"(critical at {NODULE_CRITICAL_DIAMETER_MM:g} mm or more).",
            })
    return findings


def _cardiac_function(result: dict[str, Any]) -> list[dict[str, str]]:
    ef = finite_number(result.get("lv_ef_percent"))
    if ef is not None and ef < LV_EF_CRITICAL_PERCENT:
        return [{
            "code": "lv_ef_below_35",
            "message": f"Left-ventricular ejection fraction is {ef:.1f}% (critical under {LV_EF_CRITICAL_PERCENT:g}%).",
        }]
    return []


def _bone_age(result: dict[str, Any]) -> list[dict[str, str]]:
    z = finite_number(result.get("z_score"))
    if z is not None and abs(z) > BONE_AGE_CRITICAL_Z:
        direction = "advanced" if z > 0 else "delayed"
        return [{
            "code": "bone_age_beyond_3sd",
            "message": f"Bone age is {direction} by {abs(z):.2f} standard deviations "
                       f"(critical beyond {BONE_AGE_CRITICAL_Z:g}).",
        }]
    return []


def _mammography(result: dict[str, Any]) -> list[dict[str, str]]:
    birads = result.get("birads")
    category = finite_number(birads.get("category")) if isinstance(birads, dict) else None
    if category is not None and category >= BIRADS_CRITICAL_CATEGORY:
        return [{
            "code": "birads_4_or_5",
            "message": f"BI-RADS-style category {int(category)} (critical at {BIRADS_CRITICAL_CATEGORY} or 5).",
        }]
    return []


RULES: dict[str, Callable[[dict[str, Any]], list[dict[str, str]]]] = {
    "lung_nodule": _lung_nodule,
    "cardiac_function": _cardiac_function,
    "bone_age": _bone_age,
    "mammography": _mammography,
}


def critical_findings(assessment_name: str, result: dict[str, Any] | None) -> list[dict[str, str]]:
    """The critical findings of one assessment result: ``[{"code", "message"}]``, empty when none."""
    rule = RULES.get(assessment_name)
    if rule is None or not isinstance(result, dict):
        return []
    return rule(result)
