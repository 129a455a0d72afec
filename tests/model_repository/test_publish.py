"""Publishing to the S3 model repository OVMS reads, against the real private S3 server (SeaweedFS)."""
from __future__ import annotations

import json
import shutil
import uuid

import pytest

from model_repository.cards import read_card, sha256_file
from model_repository.publish import PublishError, main, publish_version

MODEL = "bone_age"


@pytest.fixture
def s3_uri(s3_server):
    """A fresh prefix in the private bucket per test."""
    return f"s3://{s3_server.bucket}/repo-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def recorded_client(s3_server):
    """A client that records every object write (key) in the order the server receives it."""
    client = s3_server.client()
    client.writes = []

    def record(params, **_):
        # The request as it is sent (path-style; the bucket may already be in the path or not yet).
        path = params["url_path"].split("?", 1)[0].lstrip("/")
        client.writes.append(path.removeprefix(f"{s3_server.bucket}/"))

    for operation in ("PutObject", "CopyObject", "CreateMultipartUpload"):
        client.meta.events.register(f"before-call.s3.{operation}", record)
    return client


def _prefix(s3_uri: str) -> str:
    return s3_uri.split("/", 3)[3]


def _objects(s3_server, s3_uri: str) -> dict:
    client = s3_server.client()
    listing = client.list_objects_v2(Bucket=s3_server.bucket, Prefix=_prefix(s3_uri) + "/")
    return {obj["Key"][len(_prefix(s3_uri)) + 1:]: obj for obj in listing.get("Contents", [])}


def _config(s3_server, s3_uri: str) -> dict:
    body = s3_server.client().get_object(Bucket=s3_server.bucket, Key=f"{_prefix(s3_uri)}/config.json")["Body"]
    return json.loads(body.read())


def _publish(repository, s3_uri, version, client, **kwargs):
    return publish_version(repository_dir=repository, model_name=MODEL, version=version, s3_uri=s3_uri,
                           client=client, **kwargs)


def test_round_trip_files_checksums_and_config_uploaded_last(small_model_repository, s3_server, s3_uri,
                                                             recorded_client):
    first = _publish(small_model_repository, s3_uri, 1, recorded_client)
    prefix = _prefix(s3_uri)
    assert recorded_client.writes == [f"{prefix}/bone_age/1/model.xml", f"{prefix}/bone_age/1/model.bin",
                                      f"{prefix}/bone_age/1/model_card.json", f"{prefix}/config.json"]
    assert first.uploaded == recorded_client.writes and first.versions_in_use == [1]
    assert _config(s3_server, s3_uri)["model_config_list"][0]["config"]["model_version_policy"] == {
        "specific": {"versions": [1]}}

    recorded_client.writes.clear()
    second = _publish(small_model_repository, s3_uri, 2, recorded_client)
    # config.json is the last write: OVMS never sees a config naming files that are not there yet.
    assert recorded_client.writes[-1] == f"{prefix}/config.json"
    assert recorded_client.writes[:-1] == [f"{prefix}/bone_age/2/{name}"
                                           for name in ("model.xml", "model.bin", "model_card.json")]
    assert second.versions_in_use == [1, 2]  # the versions present under the prefix plus the new one

    objects = _objects(s3_server, s3_uri)
    assert set(objects) == {"config.json", *(f"bone_age/{v}/{name}" for v in (1, 2)
                                             for name in ("model.xml", "model.bin", "model_card.json"))}
    assert all(objects["config.json"]["LastModified"] >= obj["LastModified"] for obj in objects.values())
    client = s3_server.client()
    for version in (1, 2):
        version_dir = small_model_repository / MODEL / str(version)
        card = read_card(version_dir)
        for name in ("model.xml", "model.bin"):
            key = f"{prefix}/bone_age/{version}/{name}"
            head = client.head_object(Bucket=s3_server.bucket, Key=key)
            assert head["Metadata"]["sha256"] == card["files"][name]["sha256"]
            body = client.get_object(Bucket=s3_server.bucket, Key=key)["Body"].read()
            assert body == (version_dir / name).read_bytes()
        card_head = client.head_object(Bucket=s3_server.bucket, Key=f"{prefix}/bone_age/{version}/model_card.json")
        assert card_head["Metadata"]["sha256"] == sha256_file(version_dir / "model_card.json")

    config = _config(s3_server, s3_uri)
    assert config == {"model_config_list": [{"config": {
        "name": "bone_age",
        # OVMS reads a model from S3 as s3://<bucket>/<model_path> (the directory holding the version directories).
        "base_path": f"s3://{s3_server.bucket}/{prefix}/bone_age",
        "model_version_policy": {"specific": {"versions": [1, 2]}},
        "plugin_config": {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1", "INFERENCE_PRECISION_HINT": "f32"},
    }}]}
    assert second.config == config


def test_a_second_publish_uploads_nothing(small_model_repository, s3_server, s3_uri, recorded_client):
    _publish(small_model_repository, s3_uri, 1, recorded_client)
    before = _objects(s3_server, s3_uri)
    recorded_client.writes.clear()
    again = _publish(small_model_repository, s3_uri, 1, recorded_client)
    assert recorded_client.writes == [] and again.uploaded == []
    assert len(again.skipped) == 4
    assert {k: o["ETag"] for k, o in _objects(s3_server, s3_uri).items()} == {k: o["ETag"] for k, o in before.items()}


def test_a_tampered_version_is_refused_and_nothing_is_uploaded(small_model_repository, s3_server, s3_uri,
                                                               recorded_client, tmp_path, s3_env, capsys):
    repository = tmp_path / "repo"
    shutil.copytree(small_model_repository / MODEL / "2", repository / MODEL / "2")
    with open(repository / MODEL / "2" / "model.bin", "r+b") as fh:
        fh.seek(100)
        byte = fh.read(1)
        fh.seek(100)
        fh.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(PublishError, match="does not match the model card"):
        _publish(repository, s3_uri, 2, recorded_client)
    assert recorded_client.writes == []
    assert _objects(s3_server, s3_uri) == {}

    # The CLI: a clear error and a non-zero exit, still nothing uploaded.
    code = main(["--model", MODEL, "--version", "2", "--s3-uri", s3_uri, "--repository-dir", str(repository)])
    assert code == 2
    err = capsys.readouterr().err
    assert "refusing to publish bone_age version 2" in err and "model.bin" in err
    assert _objects(s3_server, s3_uri) == {}


def test_explicit_versions_in_use_and_unpublished_ones_refused(small_model_repository, s3_server, s3_uri,
                                                               recorded_client):
    with pytest.raises(PublishError, match=r"versions in use \[1\] are not published"):
        _publish(small_model_repository, s3_uri, 2, recorded_client, versions_in_use=[1, 2])
    assert recorded_client.writes == []
    _publish(small_model_repository, s3_uri, 1, recorded_client)
    _publish(small_model_repository, s3_uri, 2, recorded_client, versions_in_use=[2])
    assert _config(s3_server, s3_uri)["model_config_list"][0]["config"]["model_version_policy"] == {
        "specific": {"versions": [2]}}
    # Config only (no version): back to both.
    recorded_client.writes.clear()
    report = _publish(small_model_repository, s3_uri, None, recorded_client, versions_in_use=[1, 2])
    assert recorded_client.writes == [f"{_prefix(s3_uri)}/config.json"] and report.versions_in_use == [1, 2]


def test_other_models_in_the_remote_config_are_kept(small_model_repository, s3_server, s3_uri, recorded_client):
    other = {"config": {"name": "chest_xray", "base_path": "s3://elsewhere/chest_xray",
                        "model_version_policy": {"latest": {"num_versions": 1}}}}
    s3_server.client().put_object(Bucket=s3_server.bucket, Key=f"{_prefix(s3_uri)}/config.json",
                                  Body=json.dumps({"model_config_list": [other]}).encode())
    _publish(small_model_repository, s3_uri, 1, recorded_client)
    entries = _config(s3_server, s3_uri)["model_config_list"]
    assert [e["config"]["name"] for e in entries] == ["chest_xray", "bone_age"]
    assert entries[0] == other


def test_cli_round_trip_with_credentials_from_the_environment(small_model_repository, s3_server, s3_uri, s3_env,
                                                              capsys):
    args = ["--model", MODEL, "--version", "1", "--s3-uri", s3_uri, "--repository-dir", str(small_model_repository)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "uploaded" in out and "config.json serves bone_age versions [1]" in out
    assert main(args) == 0
    assert "0 uploaded, 4 unchanged" in capsys.readouterr().out
    assert "bone_age/1/model.bin" in _objects(s3_server, s3_uri)


def test_a_bad_uri_is_refused(small_model_repository):
    with pytest.raises(PublishError, match="s3://bucket"):
        publish_version(repository_dir=small_model_repository, model_name=MODEL, version=1,
                        s3_uri="https://bucket/prefix")
