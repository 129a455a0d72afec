"""Nodule measurements (inference.measurements.nodules) on masks of known geometry and on the CT phantom.

Tolerances: a sphere drawn on voxels (a voxel is in when its centre is inside) gains and loses partial voxels at its
surface, so its equivalent-sphere diameter is off by a fraction of a voxel. Measured on spheres of 4-20 mm at
spacings 1.0-2.5 mm × 0.7-0.8 mm with sub-voxel centre offsets, the error stayed under 0.2 × the largest spacing;
the tests allow 0.25 × the largest spacing for the diameter and, since dV/V = 3 dD/D, three times that relative to D
for the volume (±14% for a 4 mm nodule on 1.5 mm slices, ±2% at 20 mm).
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from inference.measurements.nodules import (
    equivalent_sphere_diameter_mm,
    longest_axial_diameter_mm,
    mask_volume_ml,
    measure_nodules,
)
from studies.series import assemble_series
from tests.factories.dicom_series import NoduleSpec, chest_ct_phantom, oblique_orientation

SPACINGS = [(1.5, 0.75, 0.75), (1.0, 0.7, 0.7), (2.5, 0.8, 0.8)]
OFFSETS = [(0.0, 0.0, 0.0), (0.3, 0.2, 0.7), (0.5, 0.5, 0.5)]


def sphere_mask(diameter_mm, spacing, offset=(0.0, 0.0, 0.0), shape=(48, 64, 64)):
    phantom = chest_ct_phantom(
        slices=shape[0], rows=shape[1], columns=shape[2], pixel_spacing=spacing[1:], slice_spacing=spacing[0],
        nodules=[NoduleSpec((shape[0] // 2 + offset[0], 32 + offset[1], 18 + offset[2]), diameter_mm)],
        shuffle=False,
    )
    return phantom.nodule_labels > 0, phantom


@pytest.mark.parametrize("spacing", SPACINGS, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("diameter", [4.0, 6.0, 8.0, 10.0, 20.0])
def test_volume_and_equivalent_diameter_of_spheres_match_the_analytic_values(diameter, spacing):
    tolerance_mm = 0.25 * max(spacing)
    for offset in OFFSETS:
        mask, _ = sphere_mask(diameter, spacing, offset)
        (nodule,) = measure_nodules(mask, spacing)
        assert nodule.diameter_mm == pytest.approx(diameter, abs=tolerance_mm)
        analytic = math.pi / 6.0 * diameter ** 3
        assert nodule.volume_mm3 == pytest.approx(analytic, rel=3.0 * tolerance_mm / diameter)
        assert nodule.volume_mm3 == pytest.approx(nodule.voxel_count * spacing[0] * spacing[1] * spacing[2], abs=0.01)


@pytest.mark.parametrize("diameter", [6.0, 8.0, 12.0])
def test_longest_axial_diameter_of_a_sphere_cut_at_its_equator_is_within_a_pixel(diameter):
    spacing = (1.5, 0.75, 0.75)
    mask, _ = sphere_mask(diameter, spacing)  # centred on a slice: that slice holds the full diameter
    (nodule,) = measure_nodules(mask, spacing)
    assert diameter - 0.25 * 0.75 <= nodule.longest_axial_diameter_mm <= diameter + 0.75
    assert nodule.slice_index == 24


def test_longest_axial_diameter_of_simple_shapes_is_exact():
    one = np.zeros((5, 5), bool)
    one[2, 2] = True
    # A single pixel: its edge midpoints are one pixel apart along the longer axis.
    assert longest_axial_diameter_mm(one, (0.5, 2.0)) == pytest.approx(2.0)
    rectangle = np.zeros((10, 10), bool)
    rectangle[2:5, 1:8] = True  # 3 rows x 7 columns
    # From the left edge midpoint of the top-left pixel to the right edge midpoint of the bottom-right one.
    assert longest_axial_diameter_mm(rectangle, (1.0, 1.0)) == pytest.approx(math.hypot(2.0, 7.0))
    # With 2 mm rows the top edge of the first column to the bottom edge of the last is longer: (9-3, 7-1) mm.
    assert longest_axial_diameter_mm(rectangle, (2.0, 1.0)) == pytest.approx(math.hypot(6.0, 6.0))
    assert longest_axial_diameter_mm(np.zeros((4, 4)), (1.0, 1.0)) == 0.0


def test_an_elongated_nodule_has_a_longest_axial_diameter_above_its_equivalent_diameter():
    mask = np.zeros((9, 40, 40), bool)
    z, y, x = np.mgrid[0:9, 0:40, 0:40]
    mask[((x - 20) / 12.0) ** 2 + ((y - 20) / 4.0) ** 2 + ((z - 4) / 3.0) ** 2 <= 1.0] = True
    (nodule,) = measure_nodules(mask, (1.0, 1.0, 1.0))
    assert nodule.longest_axial_diameter_mm == pytest.approx(24.0, abs=1.0)
    assert nodule.diameter_mm < 12.0


def test_separate_nodules_are_measured_separately_largest_first_with_centroid_and_box():
    spacing = (1.5, 0.75, 0.75)
    phantom = chest_ct_phantom(slices=40, rows=80, columns=80, nodules=[
        NoduleSpec((10.0, 40.0, 20.0), 5.0), NoduleSpec((28.0, 38.0, 60.0), 12.0)], shuffle=False)
    small, large = measure_nodules(phantom.nodule_labels > 0, spacing)[::-1]
    assert (large.id, small.id) == (1, 2)
    assert large.centroid_voxel == pytest.approx((28.0, 38.0, 60.0), abs=0.05)
    assert large.centroid_mm == pytest.approx((28.0 * 1.5, 38.0 * 0.75, 60.0 * 0.75), abs=0.05)
    z0, y0, x0, z1, y1, x1 = large.bbox_voxel
    assert (z0 + z1) / 2 == pytest.approx(28.0) and (y0 + y1) / 2 == pytest.approx(38.0)
    assert (z1 - z0 + 1) * 1.5 == pytest.approx(12.0, abs=1.5)
    assert small.centroid_voxel == pytest.approx((10.0, 40.0, 20.0), abs=0.05)
    assert set(large.as_dict()) >= {"id", "centroid_voxel", "centroid_mm", "diameter_mm", "longest_axial_diameter_mm",
                                    "volume_mm3", "slice_index", "bbox_voxel"}


def test_voxels_touching_only_at_a_corner_are_one_nodule():
    mask = np.zeros((3, 3, 3), bool)
    mask[0, 0, 0] = mask[1, 1, 1] = mask[2, 2, 2] = True
    (nodule,) = measure_nodules(mask, (1.0, 1.0, 1.0))
    assert nodule.voxel_count == 3


def test_components_below_the_minimum_volume_are_dropped():
    mask = np.zeros((5, 10, 10), bool)
    mask[2, 2, 2] = True
    mask[1:4, 5:8, 5:8] = True
    found = measure_nodules(mask, (1.0, 1.0, 1.0), min_volume_mm3=2.0)
    assert [n.voxel_count for n in found] == [27]
    assert measure_nodules(np.zeros((2, 2, 2)), (1.0, 1.0, 1.0)) == []


def test_bad_input_is_refused():
    with pytest.raises(ValueError):
        measure_nodules(np.zeros((4, 4)), (1.0, 1.0, 1.0))
    with pytest.raises(ValueError):
        measure_nodules(np.zeros((2, 4, 4)), (0.0, 1.0, 1.0))


def test_equivalent_sphere_diameter_inverts_the_sphere_volume():
    assert equivalent_sphere_diameter_mm(math.pi / 6.0 * 8.0 ** 3) == pytest.approx(8.0)


def test_nodules_segmented_from_an_oblique_ct_series_have_the_planted_sizes():
    """End to end on DICOM: order the series, read HU through the modality LUT, threshold solid tissue inside the
    lungs, measure with the series' own spacing."""
    planted = [NoduleSpec((14.0, 34.0, 18.0), 10.0), NoduleSpec((22.0, 30.0, 46.0), 6.0)]
    phantom = chest_ct_phantom(slices=32, nodules=planted, orientation=oblique_orientation(), rescale_slope=0.5,
                               rescale_intercept=-1000.0)
    series = assemble_series(phantom.files, min_slices=16)
    hu = series.volume()
    g = series.geometry
    spacing = (g.slice_spacing_mm, *g.pixel_spacing_mm)
    mask = (hu > -400.0) & phantom.lung_mask
    found = measure_nodules(mask, spacing)
    assert len(found) == 2
    for nodule, truth in zip(found, planted):
        assert nodule.centroid_voxel == pytest.approx(truth.center_voxel, abs=0.1)
        assert nodule.diameter_mm == pytest.approx(truth.diameter_mm, abs=0.25 * 1.5)
    assert mask_volume_ml(phantom.lung_mask, spacing) == pytest.approx(
        phantom.lung_mask.sum() * 1.5 * 0.75 * 0.75 / 1000.0)
