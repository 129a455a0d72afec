"""Every assessment's result has a JSON Schema (draft 2020-12) in docs/results/, and the validator enforces it."""
from __future__ import annotations

import json

import pytest

from reports import schemas
from tests.reports import _results
from tests.reports._dicom import ct_series


def _valid_results() -> dict:
    return {
        "bone_age": _results.bone_age_result(),
        "ct_anatomy": _results.ct_anatomy_result(ct_series()),
        "lung_nodule": _results.lung_nodule_result(),
        "cardiac_function": _results.cardiac_result(),
        "mammography": _results.mammography_result(),
    }


def test_every_assessment_has_a_draft_2020_12_schema_that_is_itself_valid():
    from jsonschema import Draft202012Validator

    for name in schemas.ASSESSMENTS:
        schema = schemas.result_schema(name)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        Draft202012Validator.check_schema(schema)
        assert (schemas.schema_dir() / f"{name}.schema.json").exists()


@pytest.mark.parametrize("name", schemas.ASSESSMENTS)
def test_a_result_of_each_assessment_satisfies_its_schema(name):
    assert schemas.result_errors(name, _valid_results()[name]) == []


def test_a_nodule_without_its_diameter_is_refused_with_the_path_of_the_problem():
    result = _results.lung_nodule_result()
    del result["nodules"][1]["diameter_mm"]
    errors = schemas.result_errors("lung_nodule", result)
    assert errors == ["nodules/1: 'diameter_mm' is a required property"]
    with pytest.raises(schemas.ResultInvalid) as raised:
        schemas.result_validate("lung_nodule", result)
    assert raised.value.errors == errors


def test_a_demo_result_must_carry_the_demo_notice():
    result = _results.cardiac_result()
    result["notice"] = None
    assert any(error.startswith("notice:") for error in schemas.result_errors("cardiac_function", result))


def test_the_common_keys_are_required_of_every_assessment():
    result = _results.mammography_result()
    del result["critical_findings"]
    del result["model"]["stages"]
    errors = schemas.result_errors("mammography", result)
    assert "(root): 'critical_findings' is a required property" in errors
    assert "model: 'stages' is a required property" in errors


def test_out_of_range_values_and_unknown_categories_are_refused():
    result = _results.cardiac_result()
    result["lv_ef_percent"] = 135
    assert schemas.result_errors("cardiac_function", result) == [
        "lv_ef_percent: 135 is greater than the maximum of 100"]
    result = _results.ct_anatomy_result(ct_series())
    result["regions"][0]["region"] = "tail"
    assert len(schemas.result_errors("ct_anatomy", result)) == 1


def test_an_overlay_must_have_the_data_its_kind_needs():
    result = _results.mammography_result()
    result["overlays"] = [{"kind": "boxes"}, {"kind": "mask"}, {"kind": "heatmap"}]
    errors = schemas.result_errors("mammography", result)
    assert "overlays/0: 'boxes' is a required property" in errors
    assert "overlays/1: 'artifact' is a required property" in errors
    assert len(errors) == 3


def test_the_schema_files_are_plain_json_with_the_ids_the_validator_resolves():
    for path in schemas.schema_dir().glob("*.schema.json"):
        document = json.loads(path.read_text())
        assert document["$id"] == schemas.SCHEMA_BASE + path.name


def test_every_standard_code_used_in_reports_is_the_one_dicom_publishes():
    """LOINC, SNOMED CT and DICOM codes are used only as PS3.16 (pydicom's dictionary) lists them."""
    from pydicom.sr._concepts_dict import concepts

    from reports import codes

    published = {}
    for scheme in ("LN", "SCT", "DCM"):
        for entries in concepts[scheme].values():
            for value, (meaning, _cids) in entries.items():
                published.setdefault((scheme, value), set()).add(meaning.lower())
    for concept in codes.STANDARD_CONCEPTS:
        code = concept.dicom()
        assert concept.display.lower() in published.get((code.scheme_designator, code.value), set()), concept
