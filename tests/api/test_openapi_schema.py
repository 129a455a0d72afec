"""The OpenAPI document: generated from the code, valid, served as YAML and JSON, committed as a snapshot, and
readable on a reference page that loads nothing from outside the platform.

When the snapshot test fails because the API changed on purpose, refresh the snapshot and commit it:

    make openapi   # .venv/bin/python platform/manage.py spectacular --file docs/openapi.yaml --validate
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

SNAPSHOT = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
REFRESH = "make openapi"  # i.e. .venv/bin/python platform/manage.py spectacular --file docs/openapi.yaml --validate


def _generated_yaml() -> str:
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiYamlRenderer

    schema = SchemaGenerator().get_schema(request=None, public=True)
    return OpenApiYamlRenderer().render(schema, renderer_context={}).decode()


@pytest.fixture(scope="module")
def document() -> dict:
    return yaml.safe_load(_generated_yaml())


def test_the_committed_snapshot_is_the_document_the_code_generates():
    assert SNAPSHOT.read_text() == _generated_yaml(), f"the API changed: refresh the snapshot with `{REFRESH}`"


def test_the_document_is_a_valid_openapi_3_document_for_drf_spectacular_and_schemathesis(document):
    import schemathesis
    from drf_spectacular.validation import validate_schema

    validate_schema(document)  # the OpenAPI 3.0 JSON Schema; raises on any violation
    loaded = schemathesis.openapi.from_dict(document)
    operations = [result.ok() for result in loaded.get_all_operations()]  # .ok() raises for a broken operation
    assert {f"{op.method.upper()} {op.path}" for op in operations} >= {
        "GET /api/v1/assessments", "POST /api/v1/assessments", "GET /api/v1/assessments/{assessment_id}",
        "GET /api/v1/assessments/{assessment_id}/original", "GET /api/v1/api-keys", "POST /api/v1/api-keys",
        "GET /api/v1/api-keys/{api_key_id}", "DELETE /api/v1/api-keys/{api_key_id}", "GET /api/v1/audit/events",
        "GET /api/v1/billing/usage", "GET /api/v1/billing/invoices", "GET /api/v1/billing/invoices/{invoice_id}",
    }


def _operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_every_operation_is_tagged_secured_and_answers_typed_bodies_and_coded_problems(document):
    schemes = document["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {"type": "apiKey", "in": "header", "name": "Authorization",
                                 "description": schemes["ApiKey"]["description"]}
    assert "Api-Key mip_<prefix>_<secret>" in schemes["ApiKey"]["description"]
    components = document["components"]["schemas"]
    for path, method, operation in _operations(document):
        where = f"{method.upper()} {path}"
        assert operation.get("tags"), where
        assert {"ApiKey": []} in operation["security"] or {"cookieAuth": []} in operation["security"], where
        responses = operation["responses"]
        successes = [status for status in responses if status.startswith("2")]
        assert successes, where
        for status in successes:
            if status == "204":  # No Content: nothing to type
                assert "content" not in responses[status], where
                continue
            for media_type, content in responses[status]["content"].items():
                assert content.get("schema"), f"{where} {status} {media_type} has no schema"
        for status in ("401", "403", "429"):
            assert "application/problem+json" in responses[status]["content"], f"{where} lacks {status}"
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                ref = response["content"]["application/problem+json"]["schema"]["$ref"].rsplit("/", 1)[1]
                codes = components[ref]["properties"]["code"]["enum"]
                assert codes and all(re.fullmatch(r"[a-z][a-z0-9_]*", code) for code in codes), (where, status)
                assert set(components[ref]["required"]) >= {"type", "title", "status", "detail", "code"}


def test_every_post_documents_the_idempotency_key_header_and_its_problems(document):
    posts = [(path, op) for path, method, op in _operations(document) if method == "post"]
    assert posts
    for path, operation in posts:
        header = [p for p in operation["parameters"] if p["in"] == "header" and p["name"] == "Idempotency-Key"]
        assert len(header) == 1 and header[0]["schema"]["maxLength"] == 255, path
        codes = {}
        components = document["components"]["schemas"]
        for status in ("400", "409", "422"):
            ref = operation["responses"][status]["content"]["application/problem+json"]["schema"]["$ref"]
            codes[status] = set(components[ref.rsplit("/", 1)[1]]["properties"]["code"]["enum"])
        assert "idempotency_key_invalid" in codes["400"], path
        # 409 is the Idempotency-Key's; an operation may add its own conflicts (e.g. too_many_webhooks).
        assert "idempotency_in_progress" in codes["409"], path
        assert "idempotency_key_reused" in codes["422"], path


def test_every_list_is_a_cursor_page_with_limit_and_filters(document):
    lists = {"/api/v1/assessments": {"status", "model", "priority", "is_critical", "accession_number",
                                     "study_instance_uid", "created_after", "created_before"},
             "/api/v1/api-keys": {"status"}, "/api/v1/billing/invoices": {"period_from", "period_to"},
             "/api/v1/audit/events": {"from", "to", "event", "outcome", "username", "assessment_id"}}
    components = document["components"]["schemas"]
    for path, filters in lists.items():
        operation = document["paths"][path]["get"]
        names = {p["name"] for p in operation["parameters"]}
        assert names >= filters | {"limit", "cursor"}, path
        ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        assert set(components[ref]["properties"]) == {"results", "next", "previous"}, path


@pytest.mark.django_db
def test_the_document_is_served_as_yaml_and_json_without_credentials(client):
    as_yaml = client.get("/api/v1/schema")
    assert as_yaml.status_code == 200 and as_yaml["Content-Type"].startswith("application/vnd.oai.openapi")
    assert yaml.safe_load(as_yaml.content)["openapi"].startswith("3.")
    as_json = client.get("/api/v1/schema", {"format": "json"})
    assert as_json.status_code == 200 and "json" in as_json["Content-Type"]
    assert json.loads(as_json.content)["paths"].keys() == yaml.safe_load(as_yaml.content)["paths"].keys()
    negotiated = client.get("/api/v1/schema", HTTP_ACCEPT="application/json")
    assert json.loads(negotiated.content)["info"]["title"]


@pytest.mark.django_db
def test_the_reference_page_loads_swagger_ui_from_the_platform_itself_not_a_cdn(client):
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
    html = page.content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and not [s for s in sources if re.match(r"(https?:)?//", s)], sources
    assert "/api/v1/schema" in html
    for source in sources:
        asset = client.get(source)
        assert asset.status_code == 200, source
        assert len(asset.content) > 100, source
    script = client.get("/api/v1/docs/assets/swagger-ui-bundle.js")
    assert "javascript" in script["Content-Type"] and b"SwaggerUI" in script.content
    assert client.get("/api/v1/docs/assets/LICENSE").status_code == 404
