"""Publish a model version to the S3 model repository that OVMS pods read, and regenerate its ``config.json``.

    python -m model_repository.publish --model bone_age --version 2 --s3-uri s3://bucket/prefix
        [--repository-dir DIR] [--versions-in-use 1,2] [--endpoint-url URL] [--access-key K] [--secret-key S]
        [--region us-east-1]

Credentials and endpoint come from the flags, else from ``MIP_S3_ACCESS_KEY`` / ``MIP_S3_SECRET_KEY`` /
``MIP_S3_ENDPOINT_URL`` (``MIP_S3_REGION``), else from boto3's default chain (``AWS_*`` variables, profiles).

Layout under ``s3://bucket/prefix`` (the OVMS repository layout):

    <prefix>/<model>/<version>/model.xml, model.bin, model_card.json
    <prefix>/config.json

Order of operations, so OVMS never reads a config that names files not yet there:

1. The version's files are checked against its model card (``cards.verify_version_files``); a mismatch refuses
   the publish before anything is uploaded (``PublishError``; the CLI exits 2).
2. model.xml, model.bin, then model_card.json are uploaded, each with its SHA-256 in the object metadata
   (``x-amz-meta-sha256``); a file whose remote SHA-256 already matches is skipped (publishing twice uploads
   nothing).
3. ``config.json`` is regenerated, with ``build_models.write_config``'s format, for the versions in use (given
   explicitly; else every version present under the prefix plus the new one), and uploaded LAST (skipped too when
   unchanged). Entries of other models already in the remote config are kept. ``base_path`` is the S3 URI of the
   model's directory (``s3://bucket/prefix/<model>``), the form OVMS reads from S3
   (OVMS docs, "Using Cloud Storage as a Model Repository": ``s3://<bucket>/<model_path>``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from model_repository.cards import CARD_NAME, MODEL_FILES, sha256_file, verify_version_files

CONFIG_NAME = "config.json"
# Upload order within a version: the card last, so a reader that finds a card finds the files it describes.
VERSION_FILES = (*MODEL_FILES, CARD_NAME)
SHA256_METADATA = "sha256"
S3_CLIENT_CONFIG_KWARGS = {
    # SeaweedFS (and other S3-compatibles) do not implement botocore's newer default checksums.
    "request_checksum_calculation": "when_required",
    "response_checksum_validation": "when_required",
}


class PublishError(RuntimeError):
    """A publish the repository refuses (files not matching the card, bad URI, nothing to serve)."""


@dataclass
class PublishReport:
    """What a publish did. ``uploaded`` / ``skipped`` are object keys, in the order they were handled."""

    s3_uri: str
    model_name: str
    version: int | None
    versions_in_use: list[int]
    config_key: str
    uploaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    config: dict = field(default_factory=dict)

    def summary(self) -> str:
        what = f"{self.model_name} v{self.version}" if self.version is not None else self.model_name
        return (f"published {what} to {self.s3_uri}: {len(self.uploaded)} uploaded, {len(self.skipped)} unchanged; "
                f"config.json serves {self.model_name} versions {self.versions_in_use}")


def split_s3_uri(s3_uri: str) -> tuple[str, str]:
    """``s3://bucket[/prefix]`` -> ``(bucket, prefix)`` (prefix without leading/trailing slashes, may be "")."""
    parsed = urlparse(s3_uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise PublishError(f"S3 URI must be s3://bucket[/prefix], got {s3_uri!r}")
    return parsed.netloc, parsed.path.strip("/")


def _key(prefix: str, *parts) -> str:
    return "/".join(p for p in (prefix, *map(str, parts)) if p)


def model_base_path(s3_uri: str, model_name: str) -> str:
    """The ``base_path`` OVMS reads for ``model_name`` in the repository at ``s3_uri``: ``s3://bucket/prefix/model``."""
    bucket, prefix = split_s3_uri(s3_uri)
    return f"s3://{_key(bucket, prefix, model_name)}"


def make_client(endpoint_url: str | None = None, access_key: str | None = None, secret_key: str | None = None,
                region: str = "us-east-1"):
    """boto3 S3 client: explicit arguments, else the MIP_S3_* environment, else boto3's default chain."""
    import boto3
    from botocore.config import Config

    endpoint_url = endpoint_url or os.environ.get("MIP_S3_ENDPOINT_URL") or None
    access_key = access_key or os.environ.get("MIP_S3_ACCESS_KEY") or None
    secret_key = secret_key or os.environ.get("MIP_S3_SECRET_KEY") or None
    config = Config(**S3_CLIENT_CONFIG_KWARGS, s3={"addressing_style": "path"},
                    retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=60)
    return boto3.client("s3", endpoint_url=endpoint_url, aws_access_key_id=access_key,
                        aws_secret_access_key=secret_key, region_name=region, config=config)


def _remote_sha256(client, bucket: str, key: str) -> str | None:
    from botocore.exceptions import ClientError

    try:
        head = client.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    return (head.get("Metadata") or {}).get(SHA256_METADATA)


def _put_file(client, bucket: str, key: str, path: Path, report: PublishReport, content_type: str) -> None:
    digest = sha256_file(path)
    if _remote_sha256(client, bucket, key) == digest:
        report.skipped.append(key)
        return
    with open(path, "rb") as body:
        client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type,
                          Metadata={SHA256_METADATA: digest})
    report.uploaded.append(key)


def remote_versions(client, s3_uri: str, model_name: str) -> list[int]:
    """Integer versions of ``model_name`` present under the prefix (a version counts once its model.xml is there)."""
    bucket, prefix = split_s3_uri(s3_uri)
    base = _key(prefix, model_name) + "/"
    versions = set()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=base):
        for obj in page.get("Contents", []):
            parts = obj["Key"][len(base):].split("/")
            if len(parts) == 2 and parts[0].isdigit() and int(parts[0]) > 0 and parts[1] == "model.xml":
                versions.add(int(parts[0]))
    return sorted(versions)


def _remote_config(client, bucket: str, key: str) -> dict | None:
    from botocore.exceptions import ClientError

    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise PublishError(f"s3://{bucket}/{key} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise PublishError(f"s3://{bucket}/{key} is not a JSON object")
    return data


def render_config(models: Mapping[str, Iterable[int]], *, existing: dict | None = None,
                  base_paths: Mapping[str, str] | None = None,
                  plugin_config: Mapping[str, str] | None = None) -> dict:
    """The OVMS config for ``models`` ({name: versions in use}) in ``build_models.write_config``'s format.

    ``existing`` is a current config whose other models' entries are kept (and whose ``plugin_config`` for these
    models is kept when ``plugin_config`` is None; otherwise build_models' default applies). ``base_paths`` maps a
    model name to its ``base_path`` (default: write_config's, relative to the config's directory).
    Raises PublishError when a model has no version in use.
    """
    from model_repository.build_models import PLUGIN_CONFIG, write_config

    models = {name: sorted({int(v) for v in versions}) for name, versions in models.items()}
    if not models:
        raise PublishError("no model to write into config.json")
    for name, versions in models.items():
        if not versions:
            raise PublishError(f"{name}: no version in use; OVMS needs at least one (register one first)")
    existing_plugins = {e["config"]["name"]: e["config"].get("plugin_config")
                        for e in (existing or {}).get("model_config_list", [])
                        if isinstance(e, dict) and isinstance(e.get("config"), dict) and e["config"].get("name")}
    with tempfile.TemporaryDirectory(prefix="mip-config-") as tmp:
        tmp_dir = Path(tmp)
        if existing is not None:
            (tmp_dir / CONFIG_NAME).write_text(json.dumps(existing))
        for name, versions in models.items():
            plugins = plugin_config
            if plugins is None:
                plugins = existing_plugins.get(name) if isinstance(existing_plugins.get(name), dict) else None
            try:
                path = write_config(tmp_dir, {name: versions},
                                    plugin_config=plugins if plugins is not None else PLUGIN_CONFIG)
            except ValueError as exc:
                raise PublishError(str(exc)) from exc
        config = json.loads(path.read_text())
    for entry in config["model_config_list"]:
        name = entry.get("config", {}).get("name")
        if base_paths and name in models and name in base_paths:
            entry["config"]["base_path"] = base_paths[name]
    return config


def publish_config(*, client, s3_uri: str, models: Mapping[str, Iterable[int]], report: PublishReport,
                   plugin_config: Mapping[str, str] | None = None) -> dict:
    """Regenerate ``<prefix>/config.json`` for ``models`` and upload it (skipped when unchanged). Call it last."""
    bucket, prefix = split_s3_uri(s3_uri)
    key = _key(prefix, CONFIG_NAME)
    config = render_config(models, existing=_remote_config(client, bucket, key),
                           base_paths={name: model_base_path(s3_uri, name) for name in models},
                           plugin_config=plugin_config)
    with tempfile.TemporaryDirectory(prefix="mip-config-") as tmp:
        path = Path(tmp) / CONFIG_NAME
        path.write_text(json.dumps(config, indent=2) + "\n")
        _put_file(client, bucket, key, path, report, "application/json")
    report.config = config
    return config


def publish_version(*, repository_dir: Path, model_name: str, version: int | None, s3_uri: str,
                    versions_in_use: Iterable[int] | None = None, endpoint_url: str | None = None,
                    access_key: str | None = None, secret_key: str | None = None, region: str = "us-east-1",
                    plugin_config: Mapping[str, str] | None = None, client=None) -> PublishReport:
    """Upload ``repository_dir/<model_name>/<version>`` to ``s3_uri`` and regenerate its config.json (last).

    ``version`` None only regenerates config.json. ``versions_in_use`` None: every version present under the
    prefix plus ``version``. Raises PublishError, before anything is uploaded, when the version's files do not
    match its card, the URI is not ``s3://bucket[/prefix]``, a version in use is neither published nor being
    published, or no version would be served; botocore errors otherwise.
    """
    return publish_versions(repository_dir=repository_dir, model_name=model_name,
                            versions=[] if version is None else [version], s3_uri=s3_uri,
                            versions_in_use=versions_in_use, endpoint_url=endpoint_url, access_key=access_key,
                            secret_key=secret_key, region=region, plugin_config=plugin_config, client=client)


def publish_versions(*, repository_dir: Path, model_name: str, versions: Iterable[int], s3_uri: str,
                     versions_in_use: Iterable[int] | None = None, endpoint_url: str | None = None,
                     access_key: str | None = None, secret_key: str | None = None, region: str = "us-east-1",
                     plugin_config: Mapping[str, str] | None = None, client=None) -> PublishReport:
    """``publish_version`` for several versions at once (e.g. every version in use not yet in the bucket):
    all are verified before any upload, and config.json is uploaded once, after all of them."""
    bucket, prefix = split_s3_uri(s3_uri)
    versions = list(versions)
    version_dirs = {}
    for version in versions:
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise PublishError(f"version must be a positive integer, got {version!r}")
        version_dir = Path(repository_dir) / model_name / str(version)
        if not version_dir.is_dir():
            raise PublishError(f"{version_dir}: no such version directory")
        problems = verify_version_files(version_dir)
        if problems:
            raise PublishError(f"refusing to publish {model_name} version {version}: its files do not match its "
                               "model card: " + "; ".join(problems))
        version_dirs[version] = version_dir
    explicit = None if versions_in_use is None else sorted({int(v) for v in versions_in_use})
    if explicit is not None and not explicit:
        raise PublishError(f"{model_name}: no version in use; OVMS needs at least one")
    client = client or make_client(endpoint_url, access_key, secret_key, region)
    published = set(remote_versions(client, s3_uri, model_name)) | set(version_dirs)
    if explicit is None:
        explicit = sorted(published)
    if not explicit:
        raise PublishError(f"{model_name}: no version under {s3_uri} to serve")
    missing = sorted(set(explicit) - published)
    if missing:
        # OVMS would be told to load versions that are not there: refuse (before uploading anything).
        raise PublishError(f"{model_name}: versions in use {missing} are not published under {s3_uri}; "
                           "publish them too")
    report = PublishReport(s3_uri=s3_uri, model_name=model_name, version=versions[-1] if versions else None,
                           versions_in_use=explicit, config_key=_key(prefix, CONFIG_NAME))
    for version, version_dir in version_dirs.items():
        for name in VERSION_FILES:
            content_type = "application/json" if name.endswith(".json") else (
                "application/xml" if name.endswith(".xml") else "application/octet-stream")
            _put_file(client, bucket, _key(prefix, model_name, version, name), version_dir / name, report,
                      content_type)
    publish_config(client=client, s3_uri=s3_uri, models={model_name: explicit}, report=report,
                   plugin_config=plugin_config)
    return report


def _versions_arg(text: str) -> list[int]:
    try:
        versions = [int(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from exc
    if not versions or min(versions) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return versions


def main(argv: list[str] | None = None) -> int:
    from model_repository.build_models import DEFAULT_OUTPUT_DIR, MODEL_NAME

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=MODEL_NAME)
    parser.add_argument("--version", type=int, help="version to upload (default: only regenerate config.json)")
    parser.add_argument("--s3-uri", required=True, help="s3://bucket[/prefix] of the OVMS model repository")
    parser.add_argument("--repository-dir", type=Path, default=DEFAULT_OUTPUT_DIR)
    parser.add_argument("--versions-in-use", type=_versions_arg,
                        help="comma-separated versions config.json serves (default: published ones + --version)")
    parser.add_argument("--endpoint-url", help="S3 endpoint (default: MIP_S3_ENDPOINT_URL, else AWS)")
    parser.add_argument("--access-key", help="default: MIP_S3_ACCESS_KEY")
    parser.add_argument("--secret-key", help="default: MIP_S3_SECRET_KEY")
    parser.add_argument("--region", default=os.environ.get("MIP_S3_REGION") or "us-east-1")
    args = parser.parse_args(argv)
    try:
        report = publish_version(repository_dir=args.repository_dir, model_name=args.model, version=args.version,
                                 s3_uri=args.s3_uri, versions_in_use=args.versions_in_use,
                                 endpoint_url=args.endpoint_url, access_key=args.access_key,
                                 secret_key=args.secret_key, region=args.region)
    except PublishError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for key in report.uploaded:
        print(f"uploaded s3://{split_s3_uri(args.s3_uri)[0]}/{key}")
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
