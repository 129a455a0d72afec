"""ORU^R01 (HL7 v2.5.1) result messages for an assessment, built with hl7apy.

Layout (docs/hl7.md):

    MSH  sending application and facility, receiving application and facility (per hospital; defaults: the
         platform's settings.HL7_SENDING_APPLICATION and the hospital's slug), control id, processing id P, 2.5.1
    PID  only what the platform holds: the patient's sex (PID-8). No name, no identifier: the HIS matches the
         result to its order by the accession number.
    ORC  RE (observations to follow), ORC-3 filler order number = accession number
    OBR  OBR-3 = accession number, OBR-4 the assessment, OBR-7 when it was observed, OBR-25 result status
    NTE  the demo notice ("demo, not for diagnostic use") and the result's summary
    OBX  one NM observation per numeric field of the result, with UCUM units; the model as an ST observation;
         one ST observation per critical finding; OBX-8 "AA" (critically abnormal) when the assessment is critical

Results are preliminary (P) until a radiologist signs them off.
"""
from __future__ import annotations

import datetime as dt
import numbers

from django.conf import settings
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Message

from inference.catalog import DEMO_NOTICE
from inference.models import Assessment

VERSION = "2.5.1"
CODING_SYSTEM = "99MIP"  # local coding system of the platform's observation codes (OBX-3, OBR-4)
RESULT_STATUS = "P"  # preliminary: an AI result no one has signed off

# UCUM units by the suffix of a result field (docs/catalogue.md names fields with their unit).
_UNITS = (
    ("_mm3", ("mm3", "cubic millimeter")),
    ("_months", ("mo", "month")),
    ("_years", ("a", "year")),
    ("_ml", ("mL", "milliliter")),
    ("_mm", ("mm", "millimeter")),
    ("_percent", ("%", "percent")),
    ("_g", ("g", "gram")),
)
_DIMENSIONLESS = ("1", "dimensionless")
_SKIPPED = {"model", "reference", "notes", "overlays", "critical_findings"}


def escape(text: str) -> str:
    """HL7 v2 escaping of free text (field, component, repetition, escape and subcomponent characters)."""
    return (str(text).replace("\\", "\\E\\").replace("|", "\\F\\").replace("^", "\\S\\").replace("~", "\\R\\")
            .replace("&", "\\T\\").replace("\r", " ").replace("\n", " "))


def _ts(when: dt.datetime | None) -> str:
    return (when or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc).strftime("%Y%m%d%H%M%S+0000")


def _unit(key: str) -> tuple[str, str]:
    for suffix, unit in _UNITS:
        if key.endswith(suffix):
            return unit
    return _DIMENSIONLESS


def numeric_observations(result: dict) -> list[tuple[str, float | int, tuple[str, str]]]:
    """(field, value, (UCUM code, unit name)) for every top-level numeric field of a result, in result order."""
    rows = []
    for key, value in (result or {}).items():
        if key in _SKIPPED or isinstance(value, bool) or not isinstance(value, numbers.Real):
            continue
        rows.append((key, value, _unit(key)))
    return rows


def _number(value) -> str:
    # NM is a plain decimal: never exponent notation, no trailing zeros.
    if isinstance(value, numbers.Integral):
        return str(value)
    return ("%.6f" % value).rstrip("0").rstrip(".") or "0"


def _title(key: str) -> str:
    return key.replace("_", " ").capitalize()


def control_id_for(assessment: Assessment) -> str:
    """A stable MSH-10 for an assessment's message (20 characters, the v2 length of the field in older versions)."""
    return assessment.id.hex[:20].upper()


def build_oru(*, assessment: Assessment, control_id: str | None = None, destination=None,
              now: dt.datetime | None = None) -> str:
    """The ORU^R01 message (ER7 text, segments separated by carriage returns) for a succeeded assessment.

    `destination` (integrations.models.Hl7Destination) fills MSH-4/5/6; without one they hold the hospital's
    slug and nothing. Raises ValueError when the assessment has not succeeded (there is no result to send).
    """
    if assessment.status != Assessment.Status.SUCCEEDED or not assessment.result:
        raise ValueError("only a succeeded assessment has a result message")
    result = assessment.result
    study = assessment.instance.study
    accession = study.accession_number or str(assessment.id)
    observed = assessment.finished_at or assessment.created_at

    message = Message("ORU_R01", version=VERSION, validation_level=VALIDATION_LEVEL.TOLERANT)
    msh = message.msh
    msh.msh_3 = escape((destination.sending_application if destination else "") or settings.HL7_SENDING_APPLICATION)
    msh.msh_4 = escape((destination.sending_facility if destination else "") or assessment.tenant.slug)
    if destination is not None:
        msh.msh_5 = escape(destination.receiving_application)
        msh.msh_6 = escape(destination.receiving_facility)
    msh.msh_7 = _ts(now)
    msh.msh_9 = "ORU^R01^ORU_R01"
    msh.msh_10 = control_id or control_id_for(assessment)
    msh.msh_11 = "P"
    msh.msh_12 = VERSION

    patient_result = message.add_group("ORU_R01_PATIENT_RESULT")
    pid = patient_result.add_group("ORU_R01_PATIENT").add_segment("PID")
    pid.pid_1 = "1"
    if assessment.patient_sex in {"M", "F"}:
        pid.pid_8 = assessment.patient_sex

    order = patient_result.add_group("ORU_R01_ORDER_OBSERVATION")
    orc = order.add_segment("ORC")
    orc.orc_1 = "RE"
    orc.orc_3 = escape(accession)
    obr = order.obr
    obr.obr_1 = "1"
    obr.obr_3 = escape(accession)
    obr.obr_4 = f"{escape(assessment.model_name)}^{escape(_title(assessment.model_name))}^{CODING_SYSTEM}"
    obr.obr_7 = _ts(observed)
    obr.obr_22 = _ts(assessment.finished_at)
    obr.obr_25 = RESULT_STATUS

    notes = []
    if assessment.model_is_demo or result.get("notice"):
        notes.append(result.get("notice") or DEMO_NOTICE)
    if result.get("summary"):
        notes.append(result["summary"])
    for index, text in enumerate(notes, start=1):
        nte = order.add_segment("NTE")
        nte.nte_1 = str(index)
        nte.nte_3 = escape(text)

    abnormal = "AA" if assessment.is_critical else ""
    set_id = 0

    def observation(value_type: str, code: str, title: str, value: str, unit: tuple[str, str] | None = None,
                    flag: str = ""):
        nonlocal set_id
        set_id += 1
        obx = order.add_group("ORU_R01_OBSERVATION").obx
        obx.obx_1 = str(set_id)
        obx.obx_2 = value_type
        obx.obx_3 = f"{escape(code)}^{escape(title)}^{CODING_SYSTEM}"
        obx.obx_5 = value
        if unit:
            obx.obx_6 = f"{escape(unit[0])}^{escape(unit[1])}^UCUM"
        if flag:
            obx.obx_8 = flag
        obx.obx_11 = RESULT_STATUS
        obx.obx_14 = _ts(observed)

    for key, value, unit in numeric_observations(result):
        observation("NM", key, _title(key), _number(value), unit, abnormal)
    model = result.get("model") or {}
    observation("ST", "model", "Model", escape(
        f"{model.get('name', assessment.model_name)} version {model.get('version', assessment.model_version)} "
        f"{model.get('precision', assessment.model_precision)}".strip()
        + (f" ({DEMO_NOTICE})" if assessment.model_is_demo else "")))
    for finding in assessment.critical_findings or result.get("critical_findings") or []:
        observation("ST", f"critical.{finding.get('code', 'finding')}", "Critical finding",
                    escape(finding.get("message", "")), flag="AA")
    return message.to_er7()
