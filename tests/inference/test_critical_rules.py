"""Critical-finding rules (inference.critical) at and around each threshold."""
from __future__ import annotations

import pytest

from inference.critical import (
    BIRADS_CRITICAL_CATEGORY,
    BONE_AGE_CRITICAL_Z,
    LV_EF_CRITICAL_PERCENT,
    NODULE_CRITICAL_DIAMETER_MM,
    critical_findings,
)


def codes(name, result):
    return [finding["code"] for finding in critical_findings(name, result)]


def test_thresholds_are_the_catalogues():
    assert (NODULE_CRITICAL_DIAMETER_MM, LV_EF_CRITICAL_PERCENT, BONE_AGE_CRITICAL_Z, BIRADS_CRITICAL_CATEGORY) == (
        8.0, 35.0, 3.0, 4)


@pytest.mark.parametrize("diameter, critical", [(7.99, False), (8.0, True), (8.01, True), (25.0, True)])
def test_a_nodule_of_8_mm_or_more_is_critical(diameter, critical):
    result = {"nodules": [{"id": 1, "diameter_mm": 4.0, "longest_axial_diameter_mm": 5.0},
                          {"id": 2, "diameter_mm": diameter, "longest_axial_diameter_mm": diameter - 1.0}]}
    assert codes("lung_nodule", result) == (["nodule_8mm_or_more"] if critical else [])


def test_the_longest_axial_diameter_alone_reaching_8_mm_is_critical():
    result = {"nodules": [{"id": 3, "diameter_mm": 6.5, "longest_axial_diameter_mm": 8.0}]}
    (finding,) = critical_findings("lung_nodule", result)
    assert finding["message"] == "Lung nodule 3: longest axial diameter 8.0 mm (critical at 8 mm or more)."


def test_each_critical_nodule_is_a_finding_and_no_nodules_is_none():
    result = {"nodules": [{"id": 1, "diameter_mm": 9.0}, {"id": 2, "diameter_mm": 12.0}, {"id": 3, "diameter_mm": 3}]}
    assert codes("lung_nodule", result) == ["nodule_8mm_or_more"] * 2
    assert codes("lung_nodule", {"nodules": []}) == []
    assert codes("lung_nodule", {}) == []


@pytest.mark.parametrize("ef, critical", [(34.9, True), (35.0, False), (35.1, False), (10.0, True), (60.0, False)])
def test_an_ejection_fraction_under_35_percent_is_critical(ef, critical):
    assert codes("cardiac_function", {"lv_ef_percent": ef}) == (["lv_ef_below_35"] if critical else [])


@pytest.mark.parametrize("z, critical", [(3.0, False), (3.01, True), (-3.0, False), (-3.01, True), (0.5, False)])
def test_bone_age_beyond_three_standard_deviations_either_way_is_critical(z, critical):
    findings = critical_findings("bone_age", {"z_score": z})
    assert [f["code"] for f in findings] == (["bone_age_beyond_3sd"] if critical else [])
    if critical:
        assert ("advanced" if z > 0 else "delayed") in findings[0]["message"]


@pytest.mark.parametrize("category, critical", [(1, False), (2, False), (3, False), (4, True), (5, True)])
def test_birads_style_category_4_or_5_is_critical(category, critical):
    result = {"birads": {"category": category, "text": "x"}}
    assert codes("mammography", result) == (["birads_4_or_5"] if critical else [])


@pytest.mark.parametrize("name, result", [
    ("cardiac_function", {"lv_ef_percent": None}),
    ("cardiac_function", {"lv_ef_percent": "not a number"}),
    ("cardiac_function", {"lv_ef_percent": float("nan")}),
    ("bone_age", {"z_score": None, "z_score_unavailable_reason": "no chronological age"}),
    ("bone_age", {"z_score": True}),
    ("lung_nodule", {"nodules": [None, {"diameter_mm": None}]}),
    ("mammography", {"birads": None}),
    ("mammography", {"birads": {"category": None}}),
    ("ct_anatomy", {"regions": []}),
    ("unknown_assessment", {"lv_ef_percent": 5}),
    ("cardiac_function", None),
])
def test_missing_or_malformed_values_never_raise_and_never_alert(name, result):
    assert critical_findings(name, result) == []
