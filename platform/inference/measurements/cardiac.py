"""Cardiac function from cine short-axis label masks: volumes by Simpson's method of discs, EF, mass.

Masks are [phases, slices, rows, columns] of the catalogue's classes (docs/catalogue.md, ``cardiac_segmentation``):
0 background, 1 LV blood pool, 2 LV myocardium, 3 RV blood pool. Slices run along the short axis (the series'
order along the normal); phases cover one cardiac cycle.

Method (the summation-of-discs method used for cardiac MR, SCMR post-processing recommendations, Schulz-Menger et
al. 2020): the volume of a cavity in a phase is the sum over slices of its cross-sectional area times the slice
spacing (distance between slice centres, so the gap between slices is counted). End-diastole is the phase with the
largest LV blood volume, end-systole the smallest; the RV uses the same two phases (one time point per heart beat,
as most reporting conventions do). Papillary muscles and trabeculae count as blood pool here, because the model
labels them so. Myocardial mass = myocardial volume at end-diastole × 1.05 g/ml (density of myocardium).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

LV_BLOOD, LV_MYOCARDIUM, RV_BLOOD = 1, 2, 3
MYOCARDIAL_DENSITY_G_PER_ML = 1.05


def simpson_volume_ml(areas_mm2: Sequence[float] | np.ndarray, slice_spacing_mm: float) -> float:
    """Simpson's method of discs: Σ area_i × spacing, in millilitres (1 ml = 1000 mm³)."""
    if not (slice_spacing_mm > 0 and math.isfinite(slice_spacing_mm)):
        raise ValueError("slice spacing must be positive millimetres")
    return float(np.sum(np.asarray(areas_mm2, dtype=np.float64))) * slice_spacing_mm / 1000.0


def label_volumes_ml(
    masks: np.ndarray, label: int, pixel_spacing_mm: tuple[float, float], slice_spacing_mm: float
) -> np.ndarray:
    """Per-phase volume (ml) of ``label`` in ``masks`` [phases, slices, rows, columns]."""
    pixel_area = float(pixel_spacing_mm[0]) * float(pixel_spacing_mm[1])
    areas = (masks == label).sum(axis=(2, 3)).astype(np.float64) * pixel_area  # [phases, slices] in mm²
    return np.array([simpson_volume_ml(row, slice_spacing_mm) for row in areas])


@dataclass(frozen=True)
class CardiacFunction:
    """Results with the catalogue's keys (``as_result()``); volumes in ml, mass in g, EF in percent (None when the
    end-diastolic volume is zero: no ventricle found)."""

    lv_edv_ml: float
    lv_esv_ml: float
    lv_sv_ml: float
    lv_ef_percent: float | None
    lv_myocardial_mass_g: float
    rv_edv_ml: float
    rv_esv_ml: float
    rv_sv_ml: float
    rv_ef_percent: float | None
    ed_phase: int
    es_phase: int
    lv_volume_curve_ml: tuple[float, ...]
    rv_volume_curve_ml: tuple[float, ...]

    def as_result(self) -> dict[str, Any]:
        out = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def _ef(edv: float, esv: float) -> float | None:
    return round(100.0 * (edv - esv) / edv, 1) if edv > 0 else None


def cardiac_function(
    masks: np.ndarray, *, pixel_spacing_mm: tuple[float, float], slice_spacing_mm: float
) -> CardiacFunction:
    """Ventricular volumes and function from ``masks`` [phases, slices, rows, columns] (a single phase may be
    given as [slices, rows, columns]; EF is then 0). ``pixel_spacing_mm`` is (between rows, between columns),
    ``slice_spacing_mm`` the distance between slice centres. Raises ValueError on a wrong shape or spacing."""
    masks = np.asarray(masks)
    if masks.ndim == 3:
        masks = masks[None]
    if masks.ndim != 4 or masks.shape[0] < 1:
        raise ValueError("masks must be [phases, slices, rows, columns]")
    if not all(v > 0 and math.isfinite(v) for v in pixel_spacing_mm):
        raise ValueError("pixel spacing must be positive millimetres")
    lv = label_volumes_ml(masks, LV_BLOOD, pixel_spacing_mm, slice_spacing_mm)
    rv = label_volumes_ml(masks, RV_BLOOD, pixel_spacing_mm, slice_spacing_mm)
    myo = label_volumes_ml(masks, LV_MYOCARDIUM, pixel_spacing_mm, slice_spacing_mm)
    # The first phase wins ties, so a static (or empty) series gives ED = ES = 0 rather than an arbitrary pair.
    ed, es = int(np.argmax(lv)), int(np.argmin(lv))
    lv_edv, lv_esv, rv_edv, rv_esv = float(lv[ed]), float(lv[es]), float(rv[ed]), float(rv[es])
    return CardiacFunction(
        lv_edv_ml=round(lv_edv, 1),
        lv_esv_ml=round(lv_esv, 1),
        lv_sv_ml=round(lv_edv - lv_esv, 1),
        lv_ef_percent=_ef(lv_edv, lv_esv),
        lv_myocardial_mass_g=round(float(myo[ed]) * MYOCARDIAL_DENSITY_G_PER_ML, 1),
        rv_edv_ml=round(rv_edv, 1),
        rv_esv_ml=round(rv_esv, 1),
        rv_sv_ml=round(rv_edv - rv_esv, 1),
        rv_ef_percent=_ef(rv_edv, rv_esv),
        ed_phase=ed,
        es_phase=es,
        lv_volume_curve_ml=tuple(round(float(v), 2) for v in lv),
        rv_volume_curve_ml=tuple(round(float(v), 2) for v in rv),
    )
