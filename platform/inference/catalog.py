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
    """One assessment a hospital can order (docs/catalogue.md).

    Single-model image assessments give `build_inputs` / `read_outputs` (and may be shadowed); the others give a
    `pipeline` (inference.pipelines) that runs every stage in `stages` as one unit.
    """

    name: str
    title: str
    build_inputs: Callable[[ParsedImage, str, float | None], dict[str, np.ndarray]] | None = None
    read_outputs: Callable[[dict[str, np.ndarray], str, float | None], dict[str, Any]] | None = None
    requires_sex: bool = False
    # Distance between two results of this model and whether they agree (for shadow runs).
    compare: Callable[[dict[str, Any], dict[str, Any]], tuple[float, bool]] | None = None
    # The OVMS models, in the order they run; empty means one model named like the assessment.
    stages: tuple[str, ...] = ()
    # "image": one file; "series": many DICOM files or a zip of one series.
    input_kind: str = "image"
    pipeline: Callable[[Any], Any] | None = None
    min_slices: int = 1
    cine: bool = False
    # Modalities accepted for a series (DICOM Modality).
    series_modalities: tuple[str, ...] = ()
    # Short label for the portal's menus.
    short_title: str = ""

    @property
    def stage_models(self) -> tuple[str, ...]:
        return self.stages or (self.name,)


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
    result = interpret_bone_age(months, sex, age)
    overlays = []
    if "attention_map" in outputs:
        # Where the network looked (class-activation map over the letterboxed 512² input): drawn over the image.
        attention = np.asarray(outputs["attention_map"], dtype=np.float32).reshape(-1)
        side = int(round(np.sqrt(attention.size)))
        if side * side == attention.size and np.isfinite(attention).all():
            overlays.append({"kind": "heatmap", "position": 0, "frame": "letterbox",
                             "grid": np.round(attention.reshape(side, side), 3).tolist()})
    years, rest = divmod(months, 12)
    result.setdefault("summary", f"Bone age {int(years)} years {rest:.0f} months.")
    result["overlays"] = overlays
    return result


# Two bone-age readings within a month agree: well inside the atlas' own half-year steps and the ~0.5 month
# INT8 gate, so a disagreement flags a real change of behaviour, not rounding.
BONE_AGE_AGREEMENT_MONTHS = 1.0


def _bone_age_compare(primary: dict[str, Any], shadow: dict[str, Any]) -> tuple[float, bool]:
    difference = abs(float(shadow["bone_age_months"]) - float(primary["bone_age_months"]))
    return difference, difference <= BONE_AGE_AGREEMENT_MONTHS


def _catalog() -> dict[str, AssessmentModel]:
    from inference.pipelines import cardiac, ct_anatomy, lung_nodule, mammography

    entries = [
        AssessmentModel(
            name="bone_age",
            title="Pediatric bone age (left hand PA radiograph)",
            short_title="Bone age",
            build_inputs=_bone_age_inputs,
            read_outputs=_bone_age_outputs,
            requires_sex=True,
            compare=_bone_age_compare,
        ),
        AssessmentModel(
            name="ct_anatomy", title="CT slice anatomy tagging (CT series)", short_title="CT anatomy",
            stages=(ct_anatomy.MODEL,), input_kind="series", pipeline=ct_anatomy.run, series_modalities=("CT",),
        ),
        AssessmentModel(
            name="lung_nodule", title="Chest CT lung-nodule detection (CT series)", short_title="Lung nodules",
            stages=lung_nodule.STAGES, input_kind="series", pipeline=lung_nodule.run,
            min_slices=lung_nodule.MIN_SLICES, series_modalities=("CT",),
        ),
        AssessmentModel(
            name="cardiac_function", title="Cardiac MRI chambers and ejection fraction (cine short-axis series)",
            short_title="Cardiac function", stages=(cardiac.MODEL,), input_kind="series", pipeline=cardiac.run,
            min_slices=2, cine=True, series_modalities=("MR",),
        ),
        AssessmentModel(
            name="mammography", title="Mammography lesion detection (one mammogram)", short_title="Mammography",
            stages=(mammography.MODEL,), input_kind="image", pipeline=mammography.run,
        ),
    ]
    return {entry.name: entry for entry in entries}


CATALOG: dict[str, AssessmentModel] = _catalog()


def get_assessment_model(name: str) -> AssessmentModel | None:
    return CATALOG.get(name)
