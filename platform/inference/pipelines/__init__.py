"""Assessment pipelines: from a stored image or series, through one or more models, to a measured result.

A pipeline is a function `run(ctx) -> PipelineOutput`. It prepares model inputs, calls `ctx.infer(model, inputs)`
once per stage (batched along the slice axis where the model allows), and measures the outputs with the unit-tested
code in inference.measurements. It never talks to the database, the object store or the model server directly:
the worker (inference.tasks) gives it the decoded input and an `infer` bound to the versions chosen at submission,
and stores what it returns. So a failed stage fails the whole assessment, and every stage's version is recorded.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from PIL import Image

Infer = Callable[[str, dict[str, np.ndarray]], dict[str, np.ndarray]]


@dataclass(frozen=True)
class StageRoute:
    """One model of an assessment and the version that answers it (chosen once, at submission)."""

    name: str
    version: int
    precision: str
    demo: bool
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "precision": self.precision, "demo": self.demo,
                "reason": self.reason}


@dataclass
class PipelineContext:
    """What a pipeline gets: the decoded input (`image` or `series`), the patient inputs, and inference."""

    infer: Infer
    image: Any = None  # studies.imaging.ParsedImage for single-image assessments
    series: Any = None  # studies.series.OrderedSeries for series assessments
    patient_sex: str = ""
    chronological_age_months: float | None = None


@dataclass
class PipelineOutput:
    """The result (JSON-ready) and the arrays to keep as artifacts (name -> arrays saved in one .npz)."""

    result: dict[str, Any]
    arrays: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    # Position (in the ordered series) of the image the result is best shown on; None: the first/only image.
    key_position: int | None = None


class PipelineInputError(ValueError):
    """The decoded input cannot be assessed by this pipeline (a permanent failure with a code)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def infer_in_batches(infer: Infer, model: str, inputs: dict[str, np.ndarray], batch: int = 16) -> dict[str, np.ndarray]:
    """Run `model` over inputs whose first axis is a batch, `batch` items per request, and concatenate outputs.

    Bounded batches keep each gRPC message a few MiB (16 × 256² float32 slices = 4 MiB) and the server's memory flat.
    """
    total = next(iter(inputs.values())).shape[0]
    chunks: dict[str, list[np.ndarray]] = {}
    for start in range(0, total, batch):
        part = {name: array[start:start + batch] for name, array in inputs.items()}
        for name, value in infer(model, part).items():
            chunks.setdefault(name, []).append(np.asarray(value))
    return {name: np.concatenate(values, axis=0) for name, values in chunks.items()}


def resize_stack(stack: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize every 2-D image of a [N, H, W] float stack to [N, height, width] (bilinear, anti-aliased)."""
    stack = np.asarray(stack, dtype=np.float32)
    if stack.shape[1:] == (height, width):
        return stack.copy()
    out = np.empty((stack.shape[0], height, width), dtype=np.float32)
    for i, plane in enumerate(stack):
        out[i] = np.asarray(Image.fromarray(plane).resize((width, height), Image.Resampling.BILINEAR),
                            dtype=np.float32)
    return out


def resize_labels(labels: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize of a [N, H, W] integer label stack."""
    labels = np.asarray(labels)
    if labels.shape[1:] == (height, width):
        return labels.copy()
    rows = (np.arange(height) * labels.shape[1] / height).astype(int)
    cols = (np.arange(width) * labels.shape[2] / width).astype(int)
    return labels[:, rows][:, :, cols]


def ct_intensity(volume_hu: np.ndarray) -> np.ndarray:
    """CT model scaling (docs/catalogue.md): Hounsfield units clipped to [-1000, 1000] and mapped to [-1, 1]."""
    return np.clip(np.asarray(volume_hu, dtype=np.float32), -1000.0, 1000.0) / 1000.0


def percentile_intensity(image: np.ndarray, low: float = 1.0, high: float = 99.0) -> np.ndarray:
    """MR / mammography scaling: the image's 1st..99th percentiles mapped to [0, 1], clipped."""
    image = np.asarray(image, dtype=np.float32)
    lo, hi = np.percentile(image, [low, high])
    if not np.isfinite(lo) or not np.isfinite(hi) or hi - lo < 1e-6:
        return np.zeros_like(image)
    return np.clip((image - lo) / (hi - lo), 0.0, 1.0)


def downsample_grid(array: np.ndarray, size: int = 48, *, labels: bool = False) -> list[list[float]]:
    """A small grid of a 2-D map for inline overlays (the portal scales it over the image)."""
    array = np.asarray(array)
    h, w = array.shape
    scale = size / max(h, w)
    gh, gw = max(1, round(h * scale)), max(1, round(w * scale))
    if labels:
        grid = resize_labels(array[None], gh, gw)[0].astype(int)
        return grid.tolist()
    grid = resize_stack(array[None].astype(np.float32), gh, gw)[0]
    return np.round(grid, 3).tolist()



def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))
