"""The result of an assessment as every report format reads it: `Assessment.result` with the common keys filled.

The contract (docs/catalogue.md, docs/results/) gives every result `assessment`, `model` (with `stages`),
`notice`, `critical_findings`, `summary` and `overlays`. Results written before that contract (bone age of
issue 2: only the G&P keys, `model` without stages) are completed here from the Assessment row, never guessed:
the model, version, precision and demo flag come from the row, so a report can never look less "demo" than the
model that produced it.
"""
from __future__ import annotations

import copy
from typing import Any

from inference.catalog import DEMO_NOTICE

TITLES = {
    "bone_age": "Pediatric bone age (left hand PA radiograph)",
    "ct_anatomy": "CT body-region tagging",
    "lung_nodule": "Chest CT lung nodule detection",
    "cardiac_function": "Cardiac MRI ventricular function",
    "mammography": "Mammography lesion detection",
}


def assessment_title(name: str) -> str:
    return TITLES.get(name, name.replace("_", " ").capitalize())


def _stages(assessment, model: dict) -> list[dict]:
    stages = model.get("stages") or list(getattr(assessment, "stage_versions", None) or [])
    if stages:
        return [dict(stage) for stage in stages]
    return [{"name": model.get("name") or assessment.model_name,
             "version": int(model.get("version") or assessment.model_version),
             "precision": model.get("precision") or assessment.model_precision or "unknown",
             "demo": bool(model.get("demo", assessment.model_is_demo))}]


def _summary(name: str, result: dict) -> str:
    if name == "bone_age" and "bone_age_months" in result:
        text = f"Bone age {result.get('bone_age_years_months') or result['bone_age_months']}"
        if result.get("z_score") is not None and result.get("chronological_age_months") is not None:
            text += (f" for a chronological age of {result['chronological_age_months']:g} months "
                     f"(z-score {result['z_score']:+.2f}, {result.get('reading')})")
        return text + "."
    if name == "lung_nodule":
        return f"{len(result.get('nodules') or [])} lung nodule(s) found."
    if name == "cardiac_function" and "lv_ef_percent" in result:
        return f"Left ventricular ejection fraction {result['lv_ef_percent']:g}%."
    if name == "mammography" and "birads" in result:
        return f"{len(result.get('lesions') or [])} lesion(s); BI-RADS-style category {result['birads']['category']}."
    if name == "ct_anatomy":
        return "Body regions: " + ", ".join(r["region"] for r in result.get("regions") or []) + "."
    return f"{assessment_title(name)} completed."


def report_result(assessment) -> dict[str, Any]:
    """A deep copy of the assessment's result with every common key of the contract present.

    Raises ValueError when the assessment has no result (not succeeded).
    """
    if assessment.result is None:
        raise ValueError("the assessment has no result yet")
    result = copy.deepcopy(assessment.result)
    name = result.get("assessment") or assessment.model_name
    result["assessment"] = name
    model = dict(result.get("model") or {})
    model.setdefault("name", assessment.model_name)
    model.setdefault("version", assessment.model_version)
    model.setdefault("precision", assessment.model_precision or "unknown")
    stages = _stages(assessment, model)
    # Demo if the row, the result or any stage says so: the most cautious reading wins.
    demo = bool(model.get("demo", False) or assessment.model_is_demo or any(s.get("demo") for s in stages))
    model["demo"] = demo
    model["stages"] = stages
    result["model"] = model
    if demo:
        result["notice"] = DEMO_NOTICE
    else:
        result.setdefault("notice", None)
    if "critical_findings" not in result:
        result["critical_findings"] = list(getattr(assessment, "critical_findings", None) or [])
    result.setdefault("overlays", [])
    if not result.get("summary"):
        result["summary"] = _summary(name, result)
    return result
