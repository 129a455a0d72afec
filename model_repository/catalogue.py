"""The models the platform serves, in ``config.json`` order, and the builder module of each.

Every model gets version 1 (FP32) and version 2 (INT8, NNCF post-training quantization gated against version 1)
from ``python -m model_repository.build_models``. The contract between these models and the platform (input and
output names, shapes, preprocessing) is ``docs/catalogue.md``.

A catalogue builder module (everything but ``bone_age``, which predates this interface) provides ``NAME``,
``VARIANTS`` / ``variant_params(variant)``, ``make_model(variant, seed)`` (or ``make_model_calibrated``
returning a calibration record too), ``synthetic_inputs(rng, count)`` (requests as the platform sends them, for
INT8 calibration and the gate's held-out set), ``gate_metrics(reference, candidate)`` and ``CARD`` (task,
modality, architecture, inputs with preprocessing, outputs, gate metric, how the weights were made).
"""

from __future__ import annotations

from types import ModuleType

from model_repository.builders import (
    cardiac_segmentation,
    ct_anatomy,
    lung_segmentation,
    mammography_detection,
    nodule_candidates,
    nodule_fp_reduction,
)

BONE_AGE = "bone_age"
# Catalogue models (not bone_age) by OVMS name; lung_nodule's three stages in stage order.
BUILDERS: dict[str, ModuleType] = {m.NAME: m for m in (
    ct_anatomy, lung_segmentation, nodule_candidates, nodule_fp_reduction, cardiac_segmentation,
    mammography_detection)}
MODEL_NAMES: tuple[str, ...] = (BONE_AGE, *BUILDERS)
VARIANTS = ("full", "small")
# The assessments (``model`` in the API) and the models each runs, in stage order (docs/catalogue.md).
ASSESSMENTS: dict[str, tuple[str, ...]] = {
    "bone_age": ("bone_age",),
    "ct_anatomy": ("ct_anatomy",),
    "lung_nodule": ("lung_segmentation", "nodule_candidates", "nodule_fp_reduction"),
    "cardiac_function": ("cardiac_segmentation",),
    "mammography": ("mammography_detection",),
}


def builder(name: str) -> ModuleType:
    """The builder module of catalogue model ``name``. Raises KeyError for bone_age or an unknown name."""
    return BUILDERS[name]


def parse_models(text: str | None) -> list[str]:
    """``"a,b"`` -> ``["a", "b"]`` (every model when empty). Raises ValueError naming an unknown model."""
    if not text:
        return list(MODEL_NAMES)
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in MODEL_NAMES]
    if unknown:
        raise ValueError(f"unknown model(s) {', '.join(unknown)}; expected some of {', '.join(MODEL_NAMES)}")
    return names
