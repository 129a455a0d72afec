"""The values of a result as coded measurement groups: what the FHIR Observations, the DICOM SR and the rendered
report each present, so the three always say the same thing with the same codes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from inference.critical import finite_number
from reports import codes
from reports.codes import Concept, Unit


@dataclass(frozen=True)
class Measure:
    key: str  # the result key it comes from
    concept: Concept
    value: float
    unit: Unit
    finding_site: Concept | None = None


@dataclass(frozen=True)
class Qualitative:
    concept: Concept
    text: str
    value: Concept | None = None


@dataclass
class Group:
    """One finding (a nodule, a lesion, a body region) or the assessment's overall measurements."""

    tracking_id: str  # stable within the assessment: "bone-age", "nodule-1", ...
    label: str
    finding: Concept
    finding_site: Concept | None = None
    measures: list[Measure] = field(default_factory=list)
    qualitative: list[Qualitative] = field(default_factory=list)
    critical: bool = False
    # Where in the source it is: slice (instance) indices into the source series and an optional 2-D box.
    slice_indices: list[int] = field(default_factory=list)
    box: list[float] | None = None
    # Observation.value of the group itself (a single-valued finding such as bone age).
    primary: Measure | None = None




def _critical_codes(result: dict) -> set[str]:
    return {str(finding.get("code", "")) for finding in result.get("critical_findings") or []}


def _bone_age(result: dict) -> list[Group]:
    group = Group("bone-age", "Bone age", codes.BONE_AGE, finding_site=codes.HAND, slice_indices=[0])
    bone_age = Measure("bone_age_months", codes.BONE_AGE, finite_number(result["bone_age_months"]), codes.MONTHS,
                       codes.HAND)
    group.primary = bone_age
    group.measures.append(bone_age)
    for key, concept, unit in (("chronological_age_months", codes.CHRONOLOGICAL_AGE, codes.MONTHS),
                               ("difference_months", codes.BONE_AGE_DIFFERENCE, codes.MONTHS),
                               ("z_score", codes.Z_SCORE, codes.NO_UNIT)):
        value = finite_number(result.get(key))
        if value is not None:
            group.measures.append(Measure(key, concept, value, unit))
    reading = result.get("reading") or result.get("interpretation")
    if reading:
        group.qualitative.append(Qualitative(codes.BONE_AGE_READING, str(reading)))
    group.critical = bool(_critical_codes(result)) or (
        finite_number(result.get("z_score")) is not None and abs(finite_number(result["z_score"])) > 3.0)
    return [group]


def _ct_anatomy(result: dict) -> list[Group]:
    groups = []
    for number, region in enumerate(result.get("regions") or [], start=1):
        site = codes.REGIONS.get(region["region"])
        group = Group(f"region-{number}", f"{region['region'].replace('_', ' ')} "
                      f"(slices {region['first_index']}-{region['last_index']})", codes.BODY_REGION,
                      finding_site=site)
        group.qualitative.append(Qualitative(codes.BODY_REGION, region["region"], site))
        group.measures += [Measure("start_mm", codes.REGION_START, float(region["start_mm"]), codes.MM, site),
                           Measure("end_mm", codes.REGION_END, float(region["end_mm"]), codes.MM, site),
                           Measure("slice_count", codes.SLICE_COUNT, float(region["slice_count"]), codes.NO_UNIT,
                                   site)]
        group.slice_indices = list(range(int(region["first_index"]), int(region["last_index"]) + 1))
        groups.append(group)
    return groups


def _lung_nodule(result: dict, critical_mm: float = 8.0) -> list[Group]:
    groups = []
    lung_volume = finite_number(result.get("lung_volume_ml"))
    if lung_volume is not None:
        overall = Group("lungs", "Lungs", codes.LUNG_VOLUME, finding_site=codes.LUNG)
        overall.primary = Measure("lung_volume_ml", codes.LUNG_VOLUME, lung_volume, codes.ML, codes.LUNG)
        overall.measures.append(overall.primary)
        groups.append(overall)
    for nodule in result.get("nodules") or []:
        group = Group(f"nodule-{nodule['id']}", f"Nodule {nodule['id']}", codes.NODULE, finding_site=codes.LUNG)
        group.primary = Measure("diameter_mm", codes.DIAMETER, float(nodule["diameter_mm"]), codes.MM, codes.LUNG)
        group.measures += [
            group.primary,
            Measure("longest_axial_diameter_mm", codes.LONGEST_AXIAL_DIAMETER,
                    float(nodule["longest_axial_diameter_mm"]), codes.MM, codes.LUNG),
            Measure("volume_mm3", codes.VOLUME, float(nodule["volume_mm3"]), codes.MM3, codes.LUNG),
            Measure("probability", codes.PROBABILITY, float(nodule["probability"]), codes.NO_UNIT),
        ]
        z0, y0, x0, z1, y1, x1 = (int(v) for v in nodule["bbox_voxel"])
        group.slice_indices = [int(nodule["slice_index"])]
        group.box = [float(x0), float(y0), float(x1), float(y1)]
        group.critical = max(float(nodule["diameter_mm"]), float(nodule["longest_axial_diameter_mm"])) >= critical_mm
        groups.append(group)
    return groups


def _cardiac(result: dict) -> list[Group]:
    """LV, RV and phase groups. A value the measurement could not give (an EF with an empty ventricle is None) is
    left out of the report rather than invented."""
    def measure(key, code, unit, site=None):
        value = result.get(key)
        return Measure(key, code, float(value), unit, site) if value is not None else None

    groups = []
    lv = Group("left-ventricle", "Left ventricle", codes.LV_EF_MR, finding_site=codes.LEFT_VENTRICLE)
    lv.primary = measure("lv_ef_percent", codes.LV_EF_MR, codes.PERCENT, codes.LEFT_VENTRICLE)
    lv.measures += [m for m in (
        lv.primary,
        measure("lv_edv_ml", codes.LV_EDV, codes.ML, codes.LEFT_VENTRICLE),
        measure("lv_esv_ml", codes.LV_ESV, codes.ML, codes.LEFT_VENTRICLE),
        measure("lv_sv_ml", codes.LV_STROKE_VOLUME, codes.ML, codes.LEFT_VENTRICLE),
        measure("lv_myocardial_mass_g", codes.LV_MASS, codes.GRAM, codes.LEFT_VENTRICLE_MYOCARDIUM),
    ) if m is not None]
    lv.critical = lv.primary is not None and float(result["lv_ef_percent"]) < 35.0
    if lv.measures:
        groups.append(lv)
    rv = Group("right-ventricle", "Right ventricle", codes.RV_EF_MR, finding_site=codes.RIGHT_VENTRICLE)
    rv.primary = measure("rv_ef_percent", codes.RV_EF_MR, codes.PERCENT, codes.RIGHT_VENTRICLE)
    rv.measures += [m for m in (
        rv.primary,
        measure("rv_edv_ml", codes.RV_EDV, codes.ML, codes.RIGHT_VENTRICLE),
        measure("rv_esv_ml", codes.RV_ESV, codes.ML, codes.RIGHT_VENTRICLE),
    ) if m is not None]
    if rv.measures:
        groups.append(rv)
    phases = Group("cardiac-phases", "Cardiac phases", codes.CARDIAC_PHASE_ED, finding_site=codes.HEART)
    phases.measures += [m for m in (measure("ed_phase", codes.CARDIAC_PHASE_ED, codes.NO_UNIT),
                                    measure("es_phase", codes.CARDIAC_PHASE_ES, codes.NO_UNIT)) if m is not None]
    if phases.measures:
        groups.append(phases)
    return groups


def _mammography(result: dict) -> list[Group]:
    laterality = {"L": codes.LEFT, "R": codes.RIGHT}.get(result.get("laterality") or "")
    overall = Group("breast", "Breast" + (f" ({result['laterality']})" if laterality else ""), codes.BIRADS_STYLE,
                    finding_site=codes.BREAST)
    birads = result["birads"]
    overall.qualitative.append(Qualitative(codes.BIRADS_STYLE, f"{birads['category']}: {birads['text']}"))
    overall.critical = str(birads["category"]).upper() in {"4", "4A", "4B", "4C", "5"}
    groups = [overall]
    for number, lesion in enumerate(result.get("lesions") or [], start=1):
        group = Group(f"lesion-{number}", f"Lesion {number}", codes.LESION, finding_site=codes.BREAST)
        group.primary = Measure("score", codes.PROBABILITY, float(lesion["score"]), codes.NO_UNIT)
        group.measures.append(group.primary)
        group.box = [float(v) for v in lesion["box"]]
        group.slice_indices = [0]
        group.qualitative.append(Qualitative(codes.LESION_BOX, ", ".join(f"{v:g}" for v in group.box)))
        groups.append(group)
    return groups


_BUILDERS = {"bone_age": _bone_age, "ct_anatomy": _ct_anatomy, "lung_nodule": _lung_nodule,
             "cardiac_function": _cardiac, "mammography": _mammography}


def measurement_groups(result: dict) -> list[Group]:
    """The coded groups of a (report_result-completed) result. Unknown assessments have none."""
    builder = _BUILDERS.get(result.get("assessment", ""))
    return builder(result) if builder else []
