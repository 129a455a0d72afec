"""Nodule false-positive reduction: a 3-D CNN on 32^3 cubes around candidates (stage 3 of lung_nodule).

As in the LUNA16 false-positive-reduction track (e.g. Dou et al. 2017, Setio et al. 2016): input ``patches``
[-1, 1, 32, 32, 32] (a cube of isotropic voxels centred on a candidate, CT scaled as for the other stages),
three stages of two 3x3x3 convolutions and a 2x2x2 max-pool (32 -> 16 -> 8 -> 4), flatten, a fully connected
hidden layer and a sigmoid output ``nodule_probability`` [-1, 1]. ``full``: widths 32/64/128, 256 hidden units;
``small``: 8/8/16, 64 hidden units.

Demo weights (``builders/common.py``): the signal channel is "denser than -450 HU", max-pooled down to a 4x4x4
grid of 8^3 cells ("anything dense in this cell"). The hidden layer's hand-set units read that grid: one is the
mean over the 8 central cells, 28 fire when both cells of a pair mirrored through the centre are dense (a tube
through the centre always hits both; a sphere at the centre, even with a vessel on one side, does not), one is
the mean over the 56 peripheral cells. So **compact spherical bright centres score high and vessel-like tubes
through the centre low**. Not trained: demo, not for diagnostic use.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from model_repository.builders import phantoms
from model_repository.builders.common import FILLER_BIAS, Net, Rows, T, delta, finish

NAME = "nodule_fp_reduction"
INPUT = "patches"
OUTPUT = "nodule_probability"
SIZE = 32
GRID = 4  # cells per axis after three 2x max-pools


@dataclass(frozen=True)
class Variant:
    name: str
    widths: tuple[int, ...]
    hidden: int


VARIANTS = {"full": Variant("full", (32, 64, 128), 256), "small": Variant("small", (8, 8, 16), 64)}


def variant_params(variant: str) -> dict:
    """Hyper-parameters of ``variant`` as a JSON-serialisable dict."""
    d = asdict(VARIANTS[variant])
    d["widths"] = list(d["widths"])
    return d


def _cells() -> tuple[list[int], list[tuple[int, int]], list[int]]:
    """Flat indices (z*16 + y*4 + x) of the central cells, the mirrored peripheral pairs, the peripheral cells."""
    central, peripheral = [], []
    for z in range(GRID):
        for y in range(GRID):
            for x in range(GRID):
                idx = (z * GRID + y) * GRID + x
                (central if all(c in (1, 2) for c in (z, y, x)) else peripheral).append(idx)
    pairs = []
    for idx in peripheral:
        z, y, x = idx // 16, idx // 4 % 4, idx % 4
        mirror = ((GRID - 1 - z) * GRID + (GRID - 1 - y)) * GRID + (GRID - 1 - x)
        if idx < mirror:
            pairs.append((idx, mirror))
    return central, pairs, peripheral


def make_model(variant: str = "full", seed: int = 20240611) -> ov.Model:
    """Build the 3-D false-positive-reduction CNN for ``variant`` with seeded demo weights (dynamic batch)."""
    spec = VARIANTS[variant]
    rng = np.random.default_rng(seed + 13)
    net = Net(rng, dims=3)
    param = ops.parameter([-1, 1, SIZE, SIZE, SIZE], np.float32, name=INPUT)
    h = T(param.output(0), 1, 1)
    for stage, width in enumerate(spec.widths):
        first = Rows(1).add(0, 0, 25 * delta(3, 3)).set_bias(0, 11.25) if stage == 0 else \
            Rows(1).add(0, 0, delta(3, 3))
        h = net.conv(h, width, 3, first)
        h = net.conv(h, width, 3, Rows(1).add(0, 0, delta(3, 3)))
        h = net.max_pool(h)
    channels = h.channels
    flat = ops.reshape(h.node, ops.constant(np.array([0, -1], np.int64)), special_zero=True)
    n_in = channels * GRID ** 3
    central, pairs, peripheral = _cells()
    n_sig = 1 + len(pairs) + 1
    if spec.hidden < n_sig:
        raise ValueError(f"{spec.hidden} hidden units cannot hold {n_sig} hand-set ones")
    # Flattened index of channel c, cell i: c * 64 + i; the dense indicator is channel 0.
    w1 = np.zeros((n_in, spec.hidden))
    b1 = np.zeros(spec.hidden)
    w1[central, 0] = 1.0 / len(central)
    for k, (a, b) in enumerate(pairs):
        w1[[a, b], 1 + k] = 1.0
        b1[1 + k] = -1.0
    w1[peripheral, n_sig - 1] = 1.0 / len(peripheral)
    filler = rng.normal(0.0, 1.0, (n_in, spec.hidden - n_sig))
    w1[:, n_sig:] = filler / np.abs(filler).sum(axis=0, keepdims=True)
    b1[n_sig:] = rng.normal(0.0, FILLER_BIAS, spec.hidden - n_sig)
    hidden = ops.clamp(ops.add(ops.matmul(flat, ops.constant(w1.astype(np.float32)), False, False),
                               ops.constant(b1.astype(np.float32))), 0.0, 1.0)
    w2 = np.zeros((spec.hidden, 1))
    w2[0, 0] = 8.0
    w2[1:1 + len(pairs), 0] = -6.0
    w2[n_sig - 1, 0] = -20.0
    logit = ops.add(ops.matmul(hidden, ops.constant(w2.astype(np.float32)), False, False),
                    ops.constant(np.array([-3.0], np.float32)))
    model = ov.Model([ops.result(ops.sigmoid(logit))], [param], f"{NAME}_{variant}")
    return finish(model, [INPUT], [OUTPUT])


def synthetic_inputs(rng: np.random.Generator, count: int) -> list[dict[str, np.ndarray]]:
    """``count`` single-cube requests cycling nodule / plain lung / vessel (``phantoms.nodule_cubes``)."""
    cubes, _ = phantoms.nodule_cubes(rng, count)
    return [{INPUT: np.ascontiguousarray(c[None])} for c in cubes]


def gate_metrics(reference: list[dict], candidate: list[dict]) -> dict:
    """INT8 gate: the largest |INT8 - FP32| nodule probability over the held-out cubes."""
    from model_repository.gates import max_probability_difference

    ref = np.concatenate([r[OUTPUT] for r in reference])
    cand = np.concatenate([c[OUTPUT] for c in candidate])
    return max_probability_difference(ref, cand, threshold=GATE_MAX_DIFF)


GATE_MAX_DIFF = 0.1
CARD = {
    "task": "lung nodule false-positive reduction on 32^3 candidate cubes (stage 3 of lung_nodule)",
    "modality": "CT, cubes cut from a chest series around each candidate",
    "architecture": "3-D CNN: 3 stages of 2x (3x3x3 conv + folded BN bias + ReLU1) and 2x2x2 max-pool "
                    "(32 -> 4), flatten, fully connected hidden layer (ReLU1), fully connected output, sigmoid",
    "inputs": [{"name": INPUT, "shape": [-1, 1, SIZE, SIZE, SIZE], "dtype": "float32", "layout": "NCDHW",
                "preprocessing": {
                    "resampling": "the series resampled to isotropic voxels at the in-plane pixel spacing "
                                  "of the 256x256 slices the candidates were found on",
                    "cube": "32x32x32 voxels centred on the candidate (z, y, x), padded with -1 (air) outside "
                            "the volume",
                    "scaling": "HU clipped to [-1000, 1000] / 1000, as for the other lung_nodule stages"}}],
    "outputs": [{"name": OUTPUT, "shape": [-1, 1], "dtype": "float32",
                 "meaning": "probability that the candidate is a nodule (not a vessel or other structure)"}],
    "gate_metric": f"max |INT8 - FP32| probability over the held-out cubes <= {GATE_MAX_DIFF}",
    "weights": "hand-set demo weights (signal channel: dense window max-pooled to a 4^3 grid; hidden units: "
               "centre occupancy, mirrored-pair (tube) detectors, periphery occupancy) plus seeded random filler "
               "channels and units; not trained",
}
