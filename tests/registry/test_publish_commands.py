"""model_publish / model_config: the registry decides which versions OVMS keeps loaded (real private S3)."""
from __future__ import annotations

import json
import uuid
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from registry import services
from registry.models import ModelVersion
from registry.selectors import versions_in_use

ACTOR = "test:operator"


@pytest.fixture
def s3_uri(s3_server):
    return f"s3://{s3_server.bucket}/registry-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def registered(db, small_model_repository, settings):
    """Versions 1 (FP32, active) and 2 (INT8, staged) of the small repository, registered against their cards."""
    settings.MODEL_REPOSITORY_DIR = Path(small_model_repository)
    for version in (1, 2):
        services.model_version_register(model_name="bone_age", version=version, actor=ACTOR,
                                        repository_dir=small_model_repository)
    services.model_version_promote(model_name="bone_age", version=1, actor=ACTOR)


def _keys(s3_server, s3_uri) -> set[str]:
    prefix = s3_uri.split("/", 3)[3]
    listing = s3_server.client().list_objects_v2(Bucket=s3_server.bucket, Prefix=prefix + "/")
    return {obj["Key"][len(prefix) + 1:] for obj in listing.get("Contents", [])}


def _remote_versions(s3_server, s3_uri) -> list[int]:
    prefix = s3_uri.split("/", 3)[3]
    body = s3_server.client().get_object(Bucket=s3_server.bucket, Key=f"{prefix}/config.json")["Body"].read()
    (entry,) = json.loads(body)["model_config_list"]
    assert entry["config"]["base_path"] == f"{s3_uri}/bone_age"
    return entry["config"]["model_version_policy"]["specific"]["versions"]


def _publish(*args) -> str:
    out = StringIO()
    call_command("model_publish", "bone_age", *args, stdout=out)
    return out.getvalue()


def test_publish_serves_the_registrys_versions_in_use(registered, s3_server, s3_env, s3_uri):
    out = _publish("--version", "1", "--version", "2", "--s3-uri", s3_uri)
    assert "config.json serves versions 1, 2" in out
    assert _remote_versions(s3_server, s3_uri) == versions_in_use("bone_age") == [1, 2]
    assert {f"bone_age/{v}/{n}" for v in (1, 2) for n in ("model.xml", "model.bin", "model_card.json")} < \
        _keys(s3_server, s3_uri)

    # Promote 2: version 1 is retired and nothing in flight needs it, so OVMS may unload it. Only config.json
    # changes; publishing again without a version uploads just that.
    services.model_version_promote(model_name="bone_age", version=2, actor=ACTOR)
    out = _publish("--s3-uri", s3_uri)
    assert out.count("uploaded s3://") == 1 and "config.json" in out
    assert _remote_versions(s3_server, s3_uri) == [2]

    # Rolling back makes version 1 active again (2 goes back to staged): both are loaded again.
    services.model_version_rollback(model_name="bone_age", actor=ACTOR)
    _publish("--s3-uri", s3_uri)
    assert _remote_versions(s3_server, s3_uri) == [1, 2]
    assert "0 uploaded, 1 unchanged" in _publish("--s3-uri", s3_uri)  # idempotent


def test_a_version_pinned_by_a_hospital_stays_in_the_config_after_retirement(registered, hospital_a, s3_server,
                                                                             s3_env, s3_uri):
    services.tenant_model_pin(tenant=hospital_a.tenant, model_name="bone_age", version=1, actor=ACTOR)
    services.model_version_promote(model_name="bone_age", version=2, actor=ACTOR)  # 1 -> retired, still pinned
    _publish("--version", "1", "--version", "2", "--s3-uri", s3_uri)
    assert _remote_versions(s3_server, s3_uri) == [1, 2]


def test_publish_refuses_in_use_versions_missing_from_the_bucket(registered, s3_server, s3_env, s3_uri):
    with pytest.raises(CommandError, match=r"versions in use \[1\] are not published"):
        _publish("--version", "2", "--s3-uri", s3_uri)
    assert _keys(s3_server, s3_uri) == set()


def test_publish_refuses_without_versions_in_use(db, small_model_repository, s3_server, s3_env, s3_uri):
    with pytest.raises(CommandError, match="no version in use in the registry"):
        _publish("--version", "1", "--s3-uri", s3_uri, "--repository-dir", str(small_model_repository))
    assert _keys(s3_server, s3_uri) == set()


def test_publish_of_a_version_not_in_use_warns_and_keeps_it_out_of_the_config(db, small_model_repository,
                                                                              s3_server, s3_env, s3_uri):
    ModelVersion.objects.create(model_name="bone_age", version=1, precision="FP32", state="active", card={})
    out = _publish("--version", "1", "--version", "2", "--s3-uri", s3_uri,
                   "--repository-dir", str(small_model_repository))
    assert "v2 is published but not in use" in out
    assert _remote_versions(s3_server, s3_uri) == [1]
    assert "bone_age/2/model.bin" in _keys(s3_server, s3_uri)


def test_model_config_writes_the_versions_in_use_locally(registered, small_model_repository, tmp_path, s3_uri):
    from modelserver.config import load_config

    output = tmp_path / "ovms" / "config.json"
    call_command("model_config", "--output", str(output), stdout=StringIO())
    (entry,) = json.loads(output.read_text())["model_config_list"]
    assert entry["config"]["model_version_policy"] == {"specific": {"versions": [1, 2]}}
    # Outside the repository: an absolute base_path the local model server resolves.
    (model,) = load_config(output)
    assert model.base_path == small_model_repository.resolve() / "bone_age"
    assert model.available_versions() == [1, 2]

    services.model_version_promote(model_name="bone_age", version=2, actor=ACTOR)
    call_command("model_config", "--output", str(output), "--model", "bone_age", "--s3-uri", s3_uri,
                 stdout=StringIO())
    (entry,) = json.loads(output.read_text())["model_config_list"]
    assert entry["config"]["base_path"] == f"{s3_uri}/bone_age"
    assert entry["config"]["model_version_policy"] == {"specific": {"versions": [2]}}


def test_model_config_into_the_repository_uses_relative_base_paths(db, tmp_path, settings):
    settings.MODEL_REPOSITORY_DIR = tmp_path
    ModelVersion.objects.create(model_name="bone_age", version=3, precision="INT8", state="active", card={})
    (tmp_path / "config.json").write_text(json.dumps({"model_config_list": [
        {"config": {"name": "other", "base_path": "other"}},
        {"config": {"name": "bone_age", "base_path": "bone_age", "plugin_config": {"NUM_STREAMS": "4"}}}]}))
    call_command("model_config", "--output", str(tmp_path / "config.json"), stdout=StringIO())
    entries = json.loads((tmp_path / "config.json").read_text())["model_config_list"]
    assert [e["config"]["name"] for e in entries] == ["other", "bone_age"]
    assert entries[1]["config"] == {"name": "bone_age", "base_path": "bone_age",
                                    "model_version_policy": {"specific": {"versions": [3]}},
                                    "plugin_config": {"NUM_STREAMS": "4"}}
