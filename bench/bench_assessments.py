"""Whole assessments through the platform's own pipeline code: FP32 vs INT8, and the platform against raw OpenVINO.

    .venv/bin/python bench/bench_assessments.py [--assessments ct_anatomy,lung_nodule,...] [--repeat 2]

For each assessment of the catalogue, a realistic study is made with the DICOM phantom factory
(tests/factories/dicom_series.py: real DICOM files), assembled as the worker does (studies.series), and run through
the assessment's pipeline (inference.pipelines: preprocessing, every stage, measurements) three ways on the same
full-variant models (bench/bench_catalogue.py builds them into .run/bench/catalogue_repository) and cores:

- platform FP32: every stage version 1 over KServe v2 gRPC to the local model server (the OVMS stand-in);
- platform INT8: version 2, the same way (what the platform serves by default);
- raw INT8: the same pipeline with `infer` calling an OpenVINO compiled model in this process (no gRPC, no
  server), so platform/raw is the cost of serving.

Printed side by side, with per-core rates against the seed systems' figures (docs/catalogue_models.md). The
machine is shared and has two cores: the load average is printed with the figures.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
for entry in (REPO_ROOT / "platform", REPO_ROOT):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

import numpy as np  # noqa: E402

STUDIES = {
    # assessment: (description, items counted for the per-item rate, seed items/s per core or None)
    "ct_anatomy": ("CT series, 200 axial slices of 512×512", "slices", 100.0 / 4),
    "lung_nodule": ("chest CT, 120 slices of 512×512, two nodules", "slices", None),
    "cardiac_function": ("cine SAX MR, 20 phases × 10 slices of 192×192", "images", 201.0 / 28),
    "mammography": ("one mammogram, 3328×2560", "images", None),
}


def make_study(name: str):
    """(files, assembled series or parsed image) for the assessment's realistic input."""
    from studies.imaging import parse_upload
    from studies.series import assemble_series
    from tests.factories import dicom_series as factory

    if name == "ct_anatomy":
        phantom = factory.chest_ct_phantom(slices=200, rows=512, columns=512, pixel_spacing=(0.7, 0.7),
                                           slice_spacing=1.5, noise_hu=20.0)
        return assemble_series(phantom.files), None
    if name == "lung_nodule":
        phantom = factory.chest_ct_phantom(
            slices=120, rows=512, columns=512, pixel_spacing=(0.7, 0.7), slice_spacing=1.25, noise_hu=20.0,
            nodules=(factory.NoduleSpec((60.0, 200.0, 150.0), 10.0), factory.NoduleSpec((40.0, 300.0, 360.0), 6.0)))
        return assemble_series(phantom.files, min_slices=16), None
    if name == "cardiac_function":
        phantom = factory.cine_mr_phantom(phases=20, slices=10, rows=192, columns=192, pixel_spacing=1.6,
                                          slice_spacing=10.0)
        return assemble_series(phantom.files, cine=True), None
    if name == "mammography":
        phantom = factory.mammogram_phantom(rows=3328, columns=2560, pixel_spacing=0.07,
                                            blobs=(factory.BlobSpec((1400.0, 900.0), 120.0),))
        return None, parse_upload(phantom.files[0][1])
    raise ValueError(name)


def grpc_infer(url: str, versions: dict[str, int]):
    from inference.model_client import make_model_client

    client = make_model_client(api="kserve", url=url, timeout_s=600.0)

    def infer(model: str, inputs: dict) -> dict:
        return client.predict(model_name=model, model_version=versions[model], inputs=inputs).outputs

    return infer


def raw_infer(repository: Path, versions: dict[str, int]):
    import openvino as ov

    core = ov.Core()
    compiled = {model: core.compile_model(str(repository / model / str(version) / "model.xml"), "CPU",
                                          {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"})
                for model, version in versions.items()}

    def infer(model: str, inputs: dict) -> dict:
        request = compiled[model].create_infer_request()
        request.infer({name: np.ascontiguousarray(value) for name, value in inputs.items()})
        return {output.get_any_name(): np.array(request.get_tensor(output).data)
                for output in compiled[model].outputs}

    return infer


def run_once(name: str, infer, series, image) -> tuple[float, dict]:
    from inference.catalog import get_assessment_model
    from inference.pipelines import PipelineContext

    assessment = get_assessment_model(name)
    context = PipelineContext(infer=infer, series=series, image=image)
    started = time.perf_counter()
    output = assessment.pipeline(context)
    return time.perf_counter() - started, output.result


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    sys.path.insert(0, str(REPO_ROOT / "bench"))
    import bench_catalogue
    from inference.catalog import get_assessment_model
    from model_repository import build_models
    from modelserver import serve

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assessments", default=",".join(STUDIES))
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--repository", type=Path, default=bench_catalogue.DEFAULT_REPOSITORY)
    args = parser.parse_args(argv)
    names = [n for n in args.assessments.split(",") if n]
    models = sorted({m for n in names for m in get_assessment_model(n).stage_models})
    for model in models:
        bench_catalogue.ensure_built(model, args.repository)
    config = build_models.write_config(args.repository, models={m: [1, 2] for m in models})

    rows = []
    with serve(config, port=0, bind_address="127.0.0.1") as server:
        for name in names:
            series, image = make_study(name)
            stages = get_assessment_model(name).stage_models
            timings = {}
            for label, infer in (("FP32", grpc_infer(server.url, dict.fromkeys(stages, 1))),
                                 ("INT8", grpc_infer(server.url, dict.fromkeys(stages, 2))),
                                 ("raw INT8", raw_infer(args.repository, dict.fromkeys(stages, 2)))):
                run_once(name, infer, series, image)  # warm-up (compiles, first allocations)
                seconds = [run_once(name, infer, series, image)[0] for _ in range(args.repeat)]
                timings[label] = statistics.median(seconds)
            _, result = run_once(name, grpc_infer(server.url, dict.fromkeys(stages, 2)), series, image)
            rows.append((name, timings, result))
            print(f"  {name}: FP32 {timings['FP32']:.2f} s, INT8 {timings['INT8']:.2f} s, "
                  f"raw INT8 {timings['raw INT8']:.2f} s", flush=True)

    cores = os.cpu_count() or 1
    print(f"\nWhole assessments on {cores} cores (load average {os.getloadavg()[0]:.1f}); median of {args.repeat}")
    print(f"{'assessment':18} {'study':48} {'FP32 s':>8} {'INT8 s':>8} {'INT8 speed-up':>13} "
          f"{'raw INT8 s':>10} {'platform/raw':>12} {'INT8 per core':>18} {'seed per core':>14}")
    for name, timings, _result in rows:
        description, unit, seed = STUDIES[name]
        count = {"ct_anatomy": 200, "lung_nodule": 120, "cardiac_function": 200, "mammography": 1}[name]
        per_core = count / timings["INT8"] / cores
        print(f"{name:18} {description:48} {timings['FP32']:8.2f} {timings['INT8']:8.2f} "
              f"{timings['FP32'] / timings['INT8']:12.2f}x {timings['raw INT8']:10.2f} "
              f"{timings['INT8'] / timings['raw INT8']:11.2f}x {per_core:10.1f} {unit}/s "
              f"{(f'{seed:.1f}' if seed else '-'):>14}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
