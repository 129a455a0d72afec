"""Codes of every reported value, in one table shared by the FHIR, DICOM SR and rendered reports.

Only codes the DICOM standard itself publishes (PS3.16, as shipped in pydicom's code dictionary) are used from
LOINC (LN), SNOMED CT (SCT) and DICOM (DCM); tests/reports/test_codes.py checks each one against that dictionary.
Where no such code exists (bone age itself, the BI-RADS-style category of a demo model, body-region ranges...) the
value carries a code of the platform's own CodeSystem, PLATFORM_SYSTEM, with the private DICOM coding scheme
designator 99MIP. docs/results.md lists which is which.
"""
from __future__ import annotations

from dataclasses import dataclass

from pydicom.sr.coding import Code

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
DICOM_DCM = "http://dicom.nema.org/resources/ontology/DCM"
UCUM = "http://unitsofmeasure.org"
PLATFORM_SYSTEM = "https://mip.example/fhir/CodeSystem/mip-results"
PLATFORM_DESIGNATOR = "99MIP"

_DESIGNATORS = {LOINC: "LN", SNOMED: "SCT", DICOM_DCM: "DCM", PLATFORM_SYSTEM: PLATFORM_DESIGNATOR, UCUM: "UCUM"}


@dataclass(frozen=True)
class Concept:
    system: str
    code: str
    display: str

    def coding(self) -> dict:
        """FHIR Coding."""
        return {"system": self.system, "code": self.code, "display": self.display}

    def concept(self) -> dict:
        """FHIR CodeableConcept."""
        return {"coding": [self.coding()], "text": self.display}

    def dicom(self) -> Code:
        """DICOM coded concept (pydicom Code) for SR and SEG."""
        return Code(self.code, _DESIGNATORS[self.system], self.display[:64])

    @property
    def is_platform(self) -> bool:
        return self.system == PLATFORM_SYSTEM


def ln(code: str, display: str) -> Concept:
    return Concept(LOINC, code, display)


def sct(code: str, display: str) -> Concept:
    return Concept(SNOMED, code, display)


def dcm(code: str, display: str) -> Concept:
    return Concept(DICOM_DCM, code, display)


def mip(code: str, display: str) -> Concept:
    return Concept(PLATFORM_SYSTEM, code, display)


@dataclass(frozen=True)
class Unit:
    code: str  # UCUM
    display: str

    def dicom(self) -> Code:
        return Code(self.code, "UCUM", self.display)


MONTHS = Unit("mo", "month")
MM = Unit("mm", "millimeter")
MM3 = Unit("mm3", "cubic millimeter")
ML = Unit("mL", "milliliter")
PERCENT = Unit("%", "percent")
GRAM = Unit("g", "gram")
NO_UNIT = Unit("1", "no units")

# The report as a whole (LOINC, DICOM CID 7000 / PS3.16).
DIAGNOSTIC_IMAGING_REPORT = ln("18748-4", "Diagnostic Imaging Report")
IMAGING_MEASUREMENT_REPORT = dcm("126000", "Imaging Measurement Report")

# Anatomy (SNOMED CT as in DICOM CID 4031 and friends).
HAND = sct("85562004", "Hand")
LUNG = sct("39607008", "Lung")
HEART = sct("80891009", "Heart")
BREAST = sct("76752008", "Breast")
LEFT_VENTRICLE = sct("87878005", "Left ventricle")
LEFT_VENTRICLE_MYOCARDIUM = sct("49848007", "Left Ventricle Myocardium")
RIGHT_VENTRICLE = sct("53085002", "Right ventricle")
LEFT = sct("7771000", "Left")
RIGHT = sct("24028007", "Right")
REGIONS = {
    "head": sct("69536005", "Head"),
    "neck": sct("45048000", "Neck"),
    "chest": sct("816094009", "Chest"),
    "abdomen": sct("818981001", "Abdomen"),
    "pelvis": sct("816092008", "Pelvis"),
    "lower_limbs": sct("61685007", "Lower limb"),
}

# Findings and generic measurements.
NODULE = sct("27925004", "Nodule")
LESION = sct("52988006", "Lesion")
DIAMETER = sct("81827009", "Diameter")
VOLUME = sct("118565006", "Volume")
STROKE_VOLUME = sct("90096001", "Stroke Volume")
PROBABILITY = dcm("122157", "Probability")
Z_SCORE = dcm("113071", "Z-score")
FINDING = dcm("121071", "Finding")
ANATOMICAL_STRUCTURE = sct("91723000", "Anatomical Structure")
TISSUE = sct("85756007", "Tissue")
MORPHOLOGICALLY_ABNORMAL_STRUCTURE = sct("49755003", "Morphologically Abnormal Structure")

# Cardiac MR (LOINC, DICOM CID 3468 / 3469 and the MR LV/RV function codes).
LV_EDV = ln("8821-1", "Left Ventricular ED Volume")
LV_ESV = ln("8823-7", "Left Ventricular ES Volume")
RV_EDV = ln("8822-9", "Right Ventricular ED Volume")
RV_ESV = ln("8824-5", "Right Ventricular ES Volume")
LV_EF_MR = ln("8811-2", "Left ventricular ejection fraction by MR")
RV_EF_MR = ln("8818-7", "Right ventricular ejection fraction by MR")
LV_MASS = ln("18087-7", "Left Ventricle Mass")

# The platform's own codes: no LOINC / SNOMED CT / DICOM code we are sure of exists for these.
BONE_AGE = mip("bone-age", "Bone age (Greulich & Pyle)")
CHRONOLOGICAL_AGE = mip("chronological-age", "Chronological age at examination")
BONE_AGE_DIFFERENCE = mip("bone-age-difference", "Bone age minus chronological age")
BONE_AGE_READING = mip("bone-age-reading", "Bone age compared with chronological age")
LONGEST_AXIAL_DIAMETER = mip("longest-axial-diameter", "Longest axial diameter")
LUNG_VOLUME = mip("lung-volume", "Lung volume")
BODY_REGION = mip("body-region-range", "Body region along the series")
REGION_START = mip("region-start", "Start of region along the slice normal")
REGION_END = mip("region-end", "End of region along the slice normal")
SLICE_COUNT = mip("slice-count", "Number of slices")
BIRADS_STYLE = mip("birads-style-category", "BI-RADS-style category (demo model, not a radiologist's BI-RADS)")
LESION_BOX = mip("lesion-box", "Lesion bounding box [x0, y0, x1, y1] in source pixels")
LV_STROKE_VOLUME = mip("lv-stroke-volume", "Left ventricular stroke volume")
CARDIAC_PHASE_ED = mip("ed-phase", "End-diastolic phase index")
CARDIAC_PHASE_ES = mip("es-phase", "End-systolic phase index")
CRITICAL_FINDING = mip("critical-finding", "Critical finding")
MODEL_ALGORITHM = mip("ai-model", "AI model")


# Procedures reported (DICOM SR "Procedure reported", CID 100).
PROCEDURES = {
    "bone_age": sct("168537006", "Plain radiography"),
    "ct_anatomy": sct("77477000", "Computed tomography"),
    "lung_nodule": sct("77477000", "Computed tomography"),
    "cardiac_function": sct("241620005", "Magnetic resonance imaging of heart (procedure)"),
    "mammography": sct("71651007", "Mammography"),
}
IMAGING_PROCEDURE = sct("363679005", "Imaging procedure")

# Every standard code above, for the test that checks them against the DICOM dictionary.
STANDARD_CONCEPTS = [value for value in list(globals().values()) + list(REGIONS.values()) + list(PROCEDURES.values())
                     if isinstance(value, Concept) and not value.is_platform]
