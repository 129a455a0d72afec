"""`helm test`: submit one image through the HIS API and wait until its assessment succeeds.

Uses only the public API, like a hospital's HIS: POST /api/v1/assessments with the API key of
MIP_TEST_API_KEY, then poll the Location until the status is final. The image is a synthetic hand-sized
grayscale PNG with a random pattern, so every run is a new assessment (the API answers a re-sent file with the
earlier assessment) and no patient data is involved. Exit code 0 only when the assessment succeeded.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import secrets
import sys
import time

import numpy as np
import requests
from PIL import Image


def synthetic_png() -> bytes:
    rng = np.random.default_rng(secrets.randbits(64))
    pixels = (rng.random((768, 640)) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--model", default="bone_age")
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args(argv)

    headers = {"Authorization": f"Api-Key {os.environ['MIP_TEST_API_KEY']}"}
    response = requests.post(
        f"{args.base_url}/api/v1/assessments", headers=headers, timeout=60,
        files={"file": ("helm-test.png", synthetic_png(), "image/png")},
        data={"model": args.model, "patient_sex": "F", "chronological_age_months": "120"},
    )
    if response.status_code not in (200, 202):
        print(f"submission refused: {response.status_code} {response.text}", file=sys.stderr)
        return 1
    location = args.base_url + response.headers["Location"]
    print(f"submitted: {location}")
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        body = requests.get(location, headers=headers, timeout=30).json()
        if body["status"] in ("succeeded", "failed"):
            print(json.dumps({k: body.get(k) for k in ("id", "status", "model", "result", "error")}, indent=2))
            return 0 if body["status"] == "succeeded" else 1
        time.sleep(1)
    print(f"the assessment did not finish within {args.timeout:.0f} s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
