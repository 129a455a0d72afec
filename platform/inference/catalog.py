"""The assessments the platform offers: for each, how to build the model's inputs and read its outputs.

Model weights and their cards live in the model repository (model_repository/); this module is the
platform side of the contract: input and output names, pre- and post-processing, and which version
answers (registry.routing, with settings.MODEL_VERSIONS as the default before any version is registered).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from django.conf import settings

from inference.bone_age import interpret_bone_age
from studies.imaging import ParsedImage, preprocess_bone_age

logger = logging.getLogger(__name__)

DEMO_NOTICE = "demo, not for diagnostic use"


@dataclass(frozen=True)
class ModelCard:
    """What the platform needs from a version's model card."""

    name: str
    version: int
    precision: str
    demo: bool
    raw: dict[str, Any] = field(default_factory=dict)


def load_model_card(name: str, version: int) -> ModelCard:
    """Read `<repository>/<name>/<version>/model_card.json`.

    A missing or unreadable card is treated as a demo model of unknown precision: a result must never
    look clinical because its card could not be read.
    """
    path = settings.MODEL_REPOSITORY_DIR / name / str(version) / "model_card.json"
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        logger.warning("model card missing or unreadable for %s version %s", name, version)
        return ModelCard(name=name, version=version, precision="unknown", demo=True)
    return ModelCard(
        name=name,
        version=version,
        precision=str(raw.get("precision", "unknown")),
        demo=bool(raw.get("demo", True)),
        raw=raw,
    )


@dataclass(frozen=True)
class AssessmentModel:
    name: str
    title: str
    build_inputs: Callable[[ParsedImage, str, float | None], dict[str, np.ndarray]]
    read_outputs: Callable[[dict[str, np.ndarray], str, float | None], dict[str, Any]]
    requires_sex: bool = False
    # Distance between two results of this model and whether they agree (for shadow runs).
    compare: Callable[[dict[str, Any], dict[str, Any]], tuple[float, bool]] | None = None


def _bone_age_inputs(parsed: ParsedImage, sex: str, _age: float | None) -> dict[str, np.ndarray]:
    # The model was trained (as the RSNA 2017 winners did) with sex as a second input: 1.0 male, 0.0 female.
    return {
        "image": preprocess_bone_age(parsed.pixels, size=512),
        "sex": np.array([[1.0 if sex == "M" else 0.0]], dtype=np.float32),
    }


def _bone_age_outputs(outputs: dict[str, np.ndarray], sex: str, age: float | None) -> dict[str, Any]:
    if "bone_age_months" not in outputs:
        raise KeyError("bone_age_months")
    months = float(np.asarray(outputs["bone_age_months"]).reshape(-1)[0])
    if not np.isfinite(months):
        raise ValueError("bone_age_months is not a finite number")
    return interpret_bone_age(months, sex, age)


# Two bone-age readings within a month agree: well inside the atlas' own half-year steps and the ~0.5 month
# INT8 gate, so a disagreement flags a real change of behaviour, not rounding.
BONE_AGE_AGREEMENT_MONTHS = 1.0


def _bone_age_compare(primary: dict[str, Any], shadow: dict[str, Any]) -> tuple[float, bool]:
    difference = abs(float(shadow["bone_age_months"]) - float(primary["bone_age_months"]))
    return difference, difference <= BONE_AGE_AGREEMENT_MONTHS


CATALOG: dict[str, AssessmentModel] = {
    "bone_age": AssessmentModel(
        name="bone_age",
        title="Pediatric bone age (left hand PA radiograph)",
        build_inputs=_bone_age_inputs,
        read_outputs=_bone_age_outputs,
        requires_sex=True,
        compare=_bone_age_compare,
    ),
}


def get_assessment_model(name: str) -> AssessmentModel | None:
    return CATALOG.get(name)
