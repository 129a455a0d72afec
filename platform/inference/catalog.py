"""The assessments the platform offers: for each, how to build the model's inputs and read its outputs.

Model weights and their cards live in the model repository (model_repository/); this module is the
platform side of the contract: input and output names, pre- and post-processing, and which version
answers (settings.MODEL_VERSIONS until the registry of issue #4).
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


class MissingAssessmentInput(ValueError):
    """The submission lacks something the model needs (e.g. patient sex for bone age)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class AssessmentModel:
    name: str
    title: str
    build_inputs: Callable[[ParsedImage, str, float | None], dict[str, np.ndarray]]
    read_outputs: Callable[[dict[str, np.ndarray], str, float | None], dict[str, Any]]
    requires_sex: bool = False

    def active_version(self) -> int:
        return int(settings.MODEL_VERSIONS.get(self.name, 1))


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


CATALOG: dict[str, AssessmentModel] = {
    "bone_age": AssessmentModel(
        name="bone_age",
        title="Pediatric bone age (left hand PA radiograph)",
        build_inputs=_bone_age_inputs,
        read_outputs=_bone_age_outputs,
        requires_sex=True,
    ),
}


def get_assessment_model(name: str) -> AssessmentModel | None:
    return CATALOG.get(name)
