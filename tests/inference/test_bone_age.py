"""Bone-age interpretation against the Greulich & Pyle standard deviations (inference.bone_age)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inference.bone_age import (
    GP_SD_MONTHS,
    REFERENCE,
    format_years_months,
    interpret_bone_age,
    reference_sd_months,
)


def test_table_has_the_published_shape_and_spot_values():
    # 24 ages for boys (3 months to 17 years), 23 for girls (to 16 years)
    assert len(GP_SD_MONTHS["M"]) == 24 and GP_SD_MONTHS["M"][-1] == (204, 13.05)
    assert len(GP_SD_MONTHS["F"]) == 23 and GP_SD_MONTHS["F"][-1] == (192, 7.31)
    assert dict(GP_SD_MONTHS["M"])[120] == 9.79
    assert dict(GP_SD_MONTHS["F"])[120] == 11.73
    assert dict(GP_SD_MONTHS["F"])[60] == 11.65
    ages = [age for age, _ in GP_SD_MONTHS["M"]]
    assert ages == sorted(ages)


@pytest.mark.parametrize(
    ("bone", "sex", "age", "sd", "z"),
    [
        # hand-checked: z = (bone - chronological) / SD at the chronological age
        (140.0, "M", 120.0, 9.79, 2.04),  # (140-120)/9.79 = 2.043
        (100.0, "F", 120.0, 11.73, -1.71),  # -20/11.73 = -1.705
        (72.0, "M", 72.0, 9.17, 0.0),
        (60.0, "F", 84.0, 9.64, -2.49),  # -24/9.64 = -2.490
        (30.0, "M", 24.0, 3.92, 1.53),  # 6/3.92 = 1.531
    ],
)
def test_z_scores_at_tabulated_ages(bone, sex, age, sd, z):
    result = interpret_bone_age(bone, sex, age)
    assert result["reference_sd_months"] == sd
    assert result["z_score"] == z
    assert result["difference_months"] == round(bone - age, 1)


def test_sd_is_linearly_interpolated_between_tabulated_ages():
    # boys 60 m: 8.79, 72 m: 9.17 -> 66 m: 8.98
    sd, clamped = reference_sd_months("M", 66)
    assert sd == pytest.approx(8.98) and not clamped
    # girls 132 m: 11.94, 144 m: 10.24 -> 135 m: 11.94 - 0.25 * 1.70 = 11.515
    assert reference_sd_months("F", 135)[0] == pytest.approx(11.515)
    assert interpret_bone_age(120, "F", 135)["reference_sd_months"] == pytest.approx(11.52, abs=0.005)


def test_ages_outside_the_table_use_the_nearest_sd_and_say_so():
    assert reference_sd_months("F", 230) == (7.31, True)
    assert reference_sd_months("M", 1) == (0.69, True)
    assert reference_sd_months("M", 204) == (13.05, False)
    result = interpret_bone_age(200, "F", 216)
    assert result["reference_sd_months"] == 7.31
    assert result["notes"] and "outside the reference table" in result["notes"][0]
    assert interpret_bone_age(120, "F", 120)["notes"] == []


def test_reading_boundaries_follow_the_two_sd_convention():
    sd = 9.79  # boys at 120 months
    assert interpret_bone_age(120 + 2 * sd, "M", 120)["reading"] == "normal"  # exactly +2 SD is normal
    assert interpret_bone_age(120 - 2 * sd, "M", 120)["reading"] == "normal"
    assert interpret_bone_age(120 + 2 * sd + 0.1, "M", 120)["reading"] == "advanced"
    assert interpret_bone_age(120 - 2 * sd - 0.1, "M", 120)["reading"] == "delayed"
    assert interpret_bone_age(120, "M", 120)["reading"] == "normal"


def test_full_result_shape():
    result = interpret_bone_age(124.44, "F", 120)
    assert result == {
        "bone_age_months": 124.4,
        "bone_age_years_months": "10 y 4 m",
        "sex": "F",
        "chronological_age_months": 120.0,
        "difference_months": 4.4,
        "reference_sd_months": 11.73,
        "z_score": 0.38,
        "reading": "normal",
        "reference": REFERENCE,
        "notes": [],
        "z_score_unavailable_reason": None,
    }
    assert "Greulich" in REFERENCE and "1959" in REFERENCE


def test_unknown_chronological_age_still_reports_bone_age():
    result = interpret_bone_age(np.float32(100.0), "M", None)
    assert result["bone_age_months"] == 100.0
    assert result["bone_age_years_months"] == "8 y 4 m"
    assert result["z_score"] is None and result["reading"] is None and result["difference_months"] is None
    assert "Chronological age unknown" in result["z_score_unavailable_reason"]


@pytest.mark.parametrize(("months", "text"), [(0, "0 y 0 m"), (11.6, "1 y 0 m"), (124.4, "10 y 4 m"), (240, "20 y 0 m")])
def test_years_and_months_formatting(months, text):
    assert format_years_months(months) == text


@pytest.mark.parametrize("sex", ["O", "U", "", None, "male", 1])
def test_invalid_sex_is_refused(sex):
    with pytest.raises(ValueError, match="sex must be 'M' or 'F'"):
        interpret_bone_age(100, sex, 100)


def test_lower_case_sex_is_accepted():
    assert interpret_bone_age(100, "f", 100)["sex"] == "F"


@pytest.mark.parametrize(
    ("bone", "age"), [(-1, 100), (241, 100), (math.nan, 100), (100, -0.5), (100, 300), (100, math.inf), ("100", 100)]
)
def test_implausible_ages_are_refused(bone, age):
    with pytest.raises(ValueError, match="months"):
        interpret_bone_age(bone, "M", age)
