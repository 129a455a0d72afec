"""Cardiac function (inference.measurements.cardiac): Simpson's method of discs against analytic volumes, and the
cine MR phantom's known volumes, ejection fraction and myocardial mass.

Tolerances: the phantom's cavities are cylinders filling whole slices, so Simpson's sum is exact along the axis and
the only error is drawing each disc on 1.5 mm pixels (pixel centres inside the circle), which changes its area by
well under 1% at the radii used (11-27 px); the tests allow 2% on volumes and mass and 1.5 points on EF."""
from __future__ import annotations

import math

import numpy as np
import pytest

from inference.critical import critical_findings
from inference.measurements.cardiac import (
    LV_BLOOD,
    LV_MYOCARDIUM,
    MYOCARDIAL_DENSITY_G_PER_ML,
    RV_BLOOD,
    cardiac_function,
    simpson_volume_ml,
)
from studies.series import assemble_series
from tests.factories.dicom_series import cine_mr_phantom


def test_simpson_of_a_cylinder_is_exact():
    radius, spacing, slices = 20.0, 8.0, 10
    areas = [math.pi * radius ** 2] * slices
    assert simpson_volume_ml(areas, spacing) == pytest.approx(math.pi * radius ** 2 * spacing * slices / 1000.0)


@pytest.mark.parametrize("slices, tolerance", [(8, 0.03), (16, 0.008), (64, 0.0005)])
def test_simpson_of_an_ellipsoid_converges_to_its_analytic_volume(slices, tolerance):
    # Discs at the slice centres of an ellipsoid with semi-axes a, b (in plane) and c (long axis) cut into `slices`.
    a, b, c = 25.0, 20.0, 45.0
    spacing = 2.0 * c / slices
    z = -c + spacing * (np.arange(slices) + 0.5)
    areas = math.pi * a * b * (1.0 - (z / c) ** 2)
    analytic = 4.0 / 3.0 * math.pi * a * b * c / 1000.0
    # The midpoint rule on a parabola in z overestimates by exactly 1/(2 n^2) of the volume.
    assert simpson_volume_ml(areas, spacing) == pytest.approx(analytic * (1 + 0.5 / slices ** 2), rel=1e-9)
    assert simpson_volume_ml(areas, spacing) == pytest.approx(analytic, rel=tolerance)


def test_simpson_refuses_a_non_positive_spacing():
    with pytest.raises(ValueError):
        simpson_volume_ml([1.0], 0.0)


def test_volumes_ejection_fraction_and_mass_of_the_cine_phantom_match_its_design():
    phantom = cine_mr_phantom(lv_edv_ml=140.0, lv_esv_ml=60.0, rv_edv_ml=150.0, rv_esv_ml=75.0)
    result = cardiac_function(phantom.labels, pixel_spacing_mm=phantom.pixel_spacing_mm,
                              slice_spacing_mm=phantom.slice_spacing_mm)
    assert (result.ed_phase, result.es_phase) == (0, 6)
    assert result.lv_edv_ml == pytest.approx(140.0, rel=0.02)
    assert result.lv_esv_ml == pytest.approx(60.0, rel=0.02)
    assert result.lv_sv_ml == pytest.approx(80.0, rel=0.03)
    assert result.lv_ef_percent == pytest.approx(100 * 80 / 140, abs=1.5)
    assert result.rv_edv_ml == pytest.approx(150.0, rel=0.02)
    assert result.rv_esv_ml == pytest.approx(75.0, rel=0.02)
    assert result.rv_ef_percent == pytest.approx(50.0, abs=1.5)
    assert result.lv_myocardial_mass_g == pytest.approx(phantom.myocardium_ml * MYOCARDIAL_DENSITY_G_PER_ML, rel=0.02)
    assert np.asarray(result.lv_volume_curve_ml) == pytest.approx(phantom.lv_volumes_ml, rel=0.02)
    keys = {"lv_edv_ml", "lv_esv_ml", "lv_sv_ml", "lv_ef_percent", "lv_myocardial_mass_g", "rv_edv_ml", "rv_esv_ml",
            "rv_ef_percent", "ed_phase", "es_phase"}
    assert keys <= set(result.as_result())


def test_ed_and_es_follow_the_largest_and_smallest_lv_volume_wherever_they_fall():
    phantom = cine_mr_phantom(phases=10)
    rolled = np.roll(phantom.labels, 3, axis=0)  # the cycle starts mid-diastole
    result = cardiac_function(rolled, pixel_spacing_mm=(1.5, 1.5), slice_spacing_mm=8.0)
    assert (result.ed_phase, result.es_phase) == (3, 8)


def test_a_severely_reduced_ejection_fraction_is_measured_and_flagged_critical():
    phantom = cine_mr_phantom(lv_edv_ml=180.0, lv_esv_ml=126.0)  # EF 30%
    result = cardiac_function(phantom.labels, pixel_spacing_mm=phantom.pixel_spacing_mm,
                              slice_spacing_mm=phantom.slice_spacing_mm)
    assert result.lv_ef_percent == pytest.approx(30.0, abs=1.5)
    assert [f["code"] for f in critical_findings("cardiac_function", result.as_result())] == ["lv_ef_below_35"]


def test_function_from_the_dicom_series_uses_the_series_spacing():
    """End to end: cine DICOM files (oblique short axis, shuffled) -> ordered 4-D volume -> labels by intensity ->
    function computed with the geometry the series reports."""
    phantom = cine_mr_phantom(phases=8, slices=10, slice_spacing=6.5, pixel_spacing=1.4,
                              lv_edv_ml=120.0, lv_esv_ml=50.0)
    series = assemble_series(phantom.files, cine=True, min_slices=6)
    volume = series.volume()
    labels = np.zeros(volume.shape, np.uint8)
    labels[volume == 900] = LV_BLOOD
    labels[volume == 150] = LV_MYOCARDIUM
    labels[volume == 850] = RV_BLOOD
    g = series.geometry
    result = cardiac_function(labels, pixel_spacing_mm=g.pixel_spacing_mm, slice_spacing_mm=g.slice_spacing_mm)
    assert g.slice_spacing_mm == pytest.approx(6.5)
    assert result.lv_edv_ml == pytest.approx(120.0, rel=0.02)
    assert result.lv_esv_ml == pytest.approx(50.0, rel=0.02)
    assert result.lv_ef_percent == pytest.approx(100 * 70 / 120, abs=1.5)


def test_anisotropic_pixels_scale_the_area_by_both_spacings():
    masks = np.zeros((1, 2, 10, 10), np.uint8)
    masks[0, :, 0:4, 0:5] = LV_BLOOD  # 20 pixels per slice
    result = cardiac_function(masks, pixel_spacing_mm=(2.0, 0.5), slice_spacing_mm=10.0)
    assert result.lv_edv_ml == pytest.approx(2 * 20 * 1.0 * 10.0 / 1000.0)


def test_no_ventricle_gives_no_ejection_fraction_rather_than_an_error():
    result = cardiac_function(np.zeros((4, 3, 8, 8), np.uint8), pixel_spacing_mm=(1.0, 1.0), slice_spacing_mm=5.0)
    assert result.lv_edv_ml == 0.0 and result.lv_ef_percent is None and result.rv_ef_percent is None
    assert critical_findings("cardiac_function", result.as_result()) == []


def test_a_single_phase_is_accepted_with_ed_equal_to_es():
    masks = np.zeros((3, 8, 8), np.uint8)
    masks[:, 2:5, 2:5] = LV_BLOOD
    result = cardiac_function(masks, pixel_spacing_mm=(1.0, 1.0), slice_spacing_mm=5.0)
    assert result.ed_phase == result.es_phase == 0 and result.lv_ef_percent == 0.0


def test_wrong_shapes_are_refused():
    with pytest.raises(ValueError):
        cardiac_function(np.zeros((8, 8)), pixel_spacing_mm=(1.0, 1.0), slice_spacing_mm=5.0)
    with pytest.raises(ValueError):
        cardiac_function(np.zeros((1, 1, 8, 8)), pixel_spacing_mm=(0.0, 1.0), slice_spacing_mm=5.0)
