"""JSON Schemas (draft 2020-12) of assessment results, and the validator the platform and the tests use.

The schemas live in docs/results/<assessment>.schema.json (documented in docs/results.md); each refers to
common.schema.json for the keys every result has. They are loaded once per process into a `referencing` registry,
so the relative `$ref`s resolve offline (no schema is ever fetched over the network).
"""
from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from django.conf import settings
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

ASSESSMENTS = ("bone_age", "ct_anatomy", "lung_nodule", "cardiac_function", "mammography")
SCHEMA_BASE = "https://mip.example/schemas/results/"


class ResultInvalid(ValueError):
    """A result does not satisfy its assessment's schema; `errors` lists "path: message" strings."""

    def __init__(self, assessment: str, errors: list[str]):
        super().__init__(f"{assessment} result does not match its schema: " + "; ".join(errors[:5]))
        self.assessment = assessment
        self.errors = errors


def schema_dir() -> Path:
    return Path(settings.REPO_ROOT) / "docs" / "results"


@functools.lru_cache(maxsize=1)
def _registry() -> Registry:
    resources = []
    for path in sorted(schema_dir().glob("*.schema.json")):
        contents = json.loads(path.read_text())
        resources.append((contents["$id"], Resource.from_contents(contents, default_specification=DRAFT202012)))
    return Registry().with_resources(resources)


def result_schema(assessment: str) -> dict[str, Any]:
    """The schema document of one assessment's result. Raises KeyError for an unknown assessment."""
    if assessment not in ASSESSMENTS:
        raise KeyError(assessment)
    return _registry().contents(f"{SCHEMA_BASE}{assessment}.schema.json")


@functools.lru_cache(maxsize=len(ASSESSMENTS))
def _validator(assessment: str) -> Draft202012Validator:
    schema = result_schema(assessment)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, registry=_registry())


def result_errors(assessment: str, result: Any) -> list[str]:
    """Every way `result` breaks the schema of `assessment`, as "json/path: message" (empty when it is valid)."""
    errors = sorted(_validator(assessment).iter_errors(result), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}" for error in errors]


def result_validate(assessment: str, result: Any) -> None:
    """Raise ResultInvalid unless `result` satisfies the schema of `assessment` (KeyError: unknown assessment)."""
    errors = result_errors(assessment, result)
    if errors:
        raise ResultInvalid(assessment, errors)
