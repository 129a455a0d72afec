"""Bone-age post-processing: compare the model's bone age with the child's age against the Greulich & Pyle reference.

Pure functions, no Django. ``interpret_bone_age`` is what the result/report code calls with the model output.
"""

from __future__ import annotations

import bisect
import math
import numbers
from typing import Any

REFERENCE = (
    "Greulich WW, Pyle SI. Radiographic Atlas of Skeletal Development of the Hand and Wrist, 2nd ed. "
    "Stanford University Press, 1959 (Brush Foundation standard deviations)."
)

# Standard deviation of skeletal age (months) by chronological age (months) in the Brush Foundation series that the
# Greulich & Pyle atlas tabulates. Values as reproduced in public bone-age software (a "Brush Foundation Study"
# growth-chart module found through the code search index, which lists the same 24 male / 23 female values); they
# agree with the table commonly quoted from the atlas. Girls' series ends at 16 y, boys' at 17 y in that table.
_AGES_MONTHS = (3, 6, 9, 12, 18, 24, 30, 36, 42, 48, 54, 60, 72, 84, 96, 108, 120, 132, 144, 156, 168, 180, 192, 204)
GP_SD_MONTHS: dict[str, tuple[tuple[float, float], ...]] = {
    "M": tuple(zip(_AGES_MONTHS, (
        0.69, 1.13, 1.43, 1.97, 3.52, 3.92, 4.52, 5.08, 5.40, 6.66, 8.36, 8.79,
        9.17, 8.91, 9.10, 9.00, 9.79, 10.09, 10.38, 10.44, 10.72, 11.32, 12.86, 13.05,
    ), strict=True)),
    "F": tuple(zip(_AGES_MONTHS[:23], (
        0.72, 1.16, 1.36, 1.77, 3.49, 4.64, 5.37, 5.97, 7.48, 8.98, 10.73, 11.65,
        10.23, 9.64, 10.23, 10.74, 11.73, 11.94, 10.24, 10.67, 11.30, 9.23, 7.31,
    ), strict=True)),
}

# Bone age outside +/-2 SD of chronological age is the usual clinical threshold for "delayed"/"advanced" (e.g.
# Martin DD et al., "The use of bone age in clinical practice - part 1", Horm Res Paediatr 2011;76:1-9; and the
# atlas's own use of 2 SD bands). Exactly 2 SD counts as normal.
Z_THRESHOLD = 2.0
MIN_AGE_MONTHS = 0.0
MAX_AGE_MONTHS = 240.0


def reference_sd_months(sex: str, chronological_age_months: float) -> tuple[float, bool]:
    """G&P standard deviation (months) for ``sex`` ("M"/"F") at ``chronological_age_months``, linearly interpolated
    between tabulated ages. Returns (sd, clamped): ages before the first or after the last tabulated age use the
    nearest end of the table and set ``clamped``. Raises ValueError for an invalid sex or age."""
    sex = _validate_sex(sex)
    age = _validate_age(chronological_age_months, "chronological_age_months")
    table = GP_SD_MONTHS[sex]
    ages = [a for a, _ in table]
    if age <= ages[0]:
        return table[0][1], age < ages[0]
    if age >= ages[-1]:
        return table[-1][1], age > ages[-1]
    i = bisect.bisect_right(ages, age)
    (a0, s0), (a1, s1) = table[i - 1], table[i]
    return s0 + (s1 - s0) * (age - a0) / (a1 - a0), False


def format_years_months(months: float) -> str:
    """124.4 -> "10 y 4 m" (rounded to the nearest whole month)."""
    total = int(round(months))
    return f"{total // 12} y {total % 12} m"


def interpret_bone_age(bone_age_months: float, sex: str, chronological_age_months: float | None) -> dict[str, Any]:
    """Compare a bone age with chronological age using the Greulich & Pyle SD table.

    ``bone_age_months``: model output; ``sex``: "M" or "F"; ``chronological_age_months``: None when unknown.
    Returns a dict with bone_age_months (0.1), bone_age_years_months, chronological_age_months, difference_months
    (bone minus chronological), reference_sd_months, z_score (0.01), reading ("delayed" | "normal" | "advanced"),
    reference, notes (list of strings) and z_score_unavailable_reason (None unless no comparison was possible).
    Raises ValueError for a sex other than M/F or an age outside 0-240 months.
    """
    sex = _validate_sex(sex)
    bone_age = _validate_age(bone_age_months, "bone_age_months")
    result: dict[str, Any] = {
        "bone_age_months": round(bone_age, 1),
        "bone_age_years_months": format_years_months(bone_age),
        "sex": sex,
        "chronological_age_months": None,
        "difference_months": None,
        "reference_sd_months": None,
        "z_score": None,
        "reading": None,
        "reference": REFERENCE,
        "notes": [],
        "z_score_unavailable_reason": None,
    }
    if chronological_age_months is None:
        result["z_score_unavailable_reason"] = (
            "Chronological age unknown (no patient age or birth date with the study): bone age cannot be "
            "compared with the reference."
        )
        return result

    age = _validate_age(chronological_age_months, "chronological_age_months")
    sd, clamped = reference_sd_months(sex, age)
    if clamped:
        first, last = GP_SD_MONTHS[sex][0][0], GP_SD_MONTHS[sex][-1][0]
        result["notes"].append(
            f"Chronological age is outside the reference table ({first:g}-{last:g} months for "
            f"{'boys' if sex == 'M' else 'girls'}); the SD of the nearest tabulated age was used."
        )
    difference = bone_age - age
    z = difference / sd
    if z < -Z_THRESHOLD:
        reading = "delayed"
    elif z > Z_THRESHOLD:
        reading = "advanced"
    else:
        reading = "normal"
    result.update(
        chronological_age_months=round(age, 1),
        difference_months=round(difference, 1),
        reference_sd_months=round(sd, 2),
        z_score=round(z, 2),
        reading=reading,
    )
    return result


def _validate_sex(sex: Any) -> str:
    value = sex.strip().upper() if isinstance(sex, str) else sex
    if value not in ("M", "F"):
        raise ValueError(
            "sex must be 'M' or 'F': the Greulich & Pyle reference is sex-specific and has no values for other or "
            "unknown sex"
        )
    return value


def _validate_age(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number of months")
    months = float(value)
    if not math.isfinite(months) or not (MIN_AGE_MONTHS <= months <= MAX_AGE_MONTHS):
        raise ValueError(f"{name} must be between {MIN_AGE_MONTHS:g} and {MAX_AGE_MONTHS:g} months (pediatric range)")
    return months
