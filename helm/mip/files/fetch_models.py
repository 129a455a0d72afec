"""Fetch model versions from the S3 model repository into a local OVMS-layout directory.

Run by the chart's init containers with the platform image's Python (boto3 is a platform dependency):

    python fetch_models.py --versions versions.json --dest /var/lib/mip/model_repository [--cards-only]

`versions.json` maps model names to the versions in use ({"bone_age": [1, 2]}). The repository root is
MIP_MODEL_REPOSITORY_URI (s3://bucket[/prefix]); credentials and region come from the standard AWS variables,
a custom endpoint from S3_ENDPOINT (the same variables OVMS reads). With --cards-only only each version's
model_card.json is copied (the web app reads precision and demo flag from it); otherwise every file of the
version (model_sync verifies the files against their card before registering the version).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from urllib.parse import urlparse


def _split(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise SystemExit(f"MIP_MODEL_REPOSITORY_URI must be s3://bucket[/prefix], got {uri!r}")
    return parsed.netloc, parsed.path.strip("/")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", required=True, type=Path)
    parser.add_argument("--dest", required=True, type=Path)
    parser.add_argument("--cards-only", action="store_true")
    args = parser.parse_args(argv)

    import boto3

    bucket, prefix = _split(os.environ["MIP_MODEL_REPOSITORY_URI"])
    s3 = boto3.client("s3", endpoint_url=os.environ.get("S3_ENDPOINT") or None,
                      region_name=os.environ.get("AWS_REGION") or None)
    wanted = json.loads(args.versions.read_text())
    missing = []
    for model, versions in sorted(wanted.items()):
        for version in versions:
            key_prefix = "/".join(p for p in (prefix, model, str(int(version))) if p) + "/"
            target = args.dest / model / str(int(version))
            target.mkdir(parents=True, exist_ok=True)
            if args.cards_only:
                keys = [key_prefix + "model_card.json"]
            else:
                keys = [obj["Key"] for page in s3.get_paginator("list_objects_v2").paginate(
                        Bucket=bucket, Prefix=key_prefix) for obj in page.get("Contents", [])]
            if not keys:
                missing.append(f"{model}/{version}")
                continue
            for key in keys:
                relative = key[len(key_prefix):]
                if not relative or relative.endswith("/"):
                    continue
                destination = target / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                try:
                    s3.download_file(bucket, key, str(destination))
                except Exception as exc:  # noqa: BLE001 - report which object, then fail below
                    print(f"cannot fetch s3://{bucket}/{key}: {exc}", file=sys.stderr)
                    missing.append(f"{model}/{version}/{relative}")
            print(f"fetched {model} v{version} ({'card' if args.cards_only else f'{len(keys)} files'})")
    if missing:
        print("missing from the model repository: " + ", ".join(missing), file=sys.stderr)
        # The web app treats a missing card as a demo model of unknown precision; model_sync must not go on.
        return 0 if args.cards_only else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
