"""Wait until every OVMS replica reports every version of the desired-state document ready.

Run by the model-sync hook before `manage.py model_sync`: OVMS reloads its config.json some time after
`helm upgrade` updates the ConfigMap (kubelet sync plus OVMS's poll), and the platform must not route to a version
before the model server can answer it. Every replica is asked (the headless Service resolves to each pod), over
the platform's own gRPC client, so the check is the one the platform itself makes.

    python wait_for_models.py --desired models.json --address <ovms-headless>:9000 --timeout 600
"""
from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from pathlib import Path


def wanted_versions(document: dict) -> list[tuple[str, int]]:
    pairs = set()
    for model, spec in document.items():
        pairs.add((model, int(spec["active"])))
        if spec.get("canary"):
            pairs.add((model, int(spec["canary"]["version"])))
        if spec.get("shadow") is not None:
            pairs.add((model, int(spec["shadow"])))
        for version in (spec.get("pins") or {}).values():
            pairs.add((model, int(version)))
    return sorted(pairs)


def replica_addresses(address: str) -> list[str]:
    host, _, port = address.rpartition(":")
    infos = socket.getaddrinfo(host, int(port), proto=socket.IPPROTO_TCP)
    return sorted({f"[{i[4][0]}]:{port}" if ":" in i[4][0] else f"{i[4][0]}:{port}" for i in infos})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--desired", required=True, type=Path)
    parser.add_argument("--address", required=True, help="host:port of the OVMS headless Service (gRPC)")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args(argv)

    import django

    django.setup()
    from django.conf import settings
    from inference.model_client import ModelServerError, make_model_client

    wanted = wanted_versions(json.loads(args.desired.read_text()))
    deadline = time.monotonic() + args.timeout
    while True:
        pending = []
        try:
            replicas = replica_addresses(args.address)
        except OSError as exc:
            replicas, pending = [], [f"{args.address}: {exc}"]
        for replica in replicas:
            client = make_model_client(api=settings.MODEL_SERVER_API, url=replica, timeout_s=5)
            try:
                for model, version in wanted:
                    try:
                        ready = client.is_model_ready(model, version, timeout_s=5)
                    except ModelServerError as exc:
                        ready = False
                        pending.append(f"{replica} {model} v{version}: {type(exc).__name__}")
                        continue
                    if not ready:
                        pending.append(f"{replica} {model} v{version}: not ready")
            finally:
                client.close()
        if replicas and not pending:
            print(f"every replica ({len(replicas)}) has {', '.join(f'{m} v{v}' for m, v in wanted)} ready")
            return 0
        if time.monotonic() > deadline:
            print("model server not ready in time: " + "; ".join(pending or ["no replica found"]), file=sys.stderr)
            return 1
        print("waiting: " + "; ".join(pending[:5] or ["no replica found"]), flush=True)
        time.sleep(5)


if __name__ == "__main__":
    sys.exit(main())
