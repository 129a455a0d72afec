"""Nodule candidate detection: a small encoder-decoder to stride 4 (stage 2 of the lung-nodule assessment).

Input ``slices`` [-1, 2, 256, 256]: channel 0 the CT slice (HU clipped to [-1000, 1000] / 1000), channel 1 the
lung probability from ``lung_segmentation`` (sigmoid of its logits). Output ``candidate_heatmap``
[-1, 1, 64, 64]: probability that a nodule centre lies in each 4x4-pixel cell. Layout: five encoder levels
(stride 1, 2, 4, 8, 16; two 3x3 convolutions each, max-pool between; the last convolution at strides 4 and 8 is
5x5), a decoder back to stride 4 (2x up-convolutions, skip concatenation, two 3x3 convolutions), a 1x1 head and a
sigmoid. ``full``: widths 32/64/128/256/256; ``small``: 8/8/8/16/16.

Demo weights (``builders/common.py``): hand-set signal channels make a centre-surround blob detector on
"denser than -450 HU" at strides 4 and 8 (dense at the centre cell, nothing dense on the ring two cells out:
compact bright blobs fire, vessels running in-plane and the chest wall do not), and multiply it with the lung
probability around the cell: it **fires on compact bright blobs inside the lung**. Vessels crossing the slice
look like blobs in 2-D and also fire; the 3-D ``nodule_fp_reduction`` stage is there to reject them.
Not trained: demo, not for diagnostic use.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from model_repository.builders import lung_segmentation, phantoms
from model_repository.builders.common import Net, Rows, T, bilinear_up, box, delta, finish, head_conv

NAME = "nodule_candidates"
INPUT = "slices"
OUTPUT = "candidate_heatmap"
SIZE = 256
STRIDE = 4


@dataclass(frozen=True)
class Variant:
    name: str
    widths: tuple[int, ...]


VARIANTS = {"full": Variant("full", (32, 64, 128, 256, 256)), "small": Variant("small", (8, 8, 8, 16, 16))}


def variant_params(variant: str) -> dict:
    """Hyper-parameters of ``variant`` as a JSON-serialisable dict."""
    d = asdict(VARIANTS[variant])
    d["widths"] = list(d["widths"])
    return d


def _blob(src: int, rows: Rows | None = None, out: int = 0) -> Rows:
    """Centre-surround on a dense indicator: 2 * centre - 0.5 * (sum of the 5x5 border ring) - 0.5, clamped.

    A compact blob (within the inner 3x3 cells) gives 1; anything dense two cells out (a vessel running
    in-plane, the chest wall, the mediastinum) pulls it to 0.
    """
    kernel = np.zeros((5, 5))
    kernel[0, :] = kernel[-1, :] = kernel[:, 0] = kernel[:, -1] = -0.5
    kernel[2, 2] = 2.0
    rows = rows if rows is not None else Rows(1)
    return rows.add(out, src, kernel).set_bias(out, -0.5)


def make_model(variant: str = "full", seed: int = 20240611) -> ov.Model:
    """Build the candidate-detection network for ``variant`` with seeded demo weights (dynamic batch)."""
    w = VARIANTS[variant].widths
    net = Net(np.random.default_rng(seed + 11))
    param = ops.parameter([-1, 2, SIZE, SIZE], np.float32, name=INPUT)
    x = T(param.output(0), 2, 2)
    # Stride 1: s0 dense (> -450 HU), s1 lung probability.
    rows = Rows(2).add(0, 0, 25 * delta(3)).set_bias(0, 11.25).add(1, 1, delta(3))
    h = net.conv(x, w[0], 3, rows)
    h = net.conv(h, w[0], 3, Rows(2).add(0, 0, delta(3)).add(1, 1, delta(3)))
    # Stride 2 (max-pooled: "any dense", "any lung" in the cell).
    h = net.max_pool(h)
    h = net.conv(h, w[1], 3, Rows(2).add(0, 0, delta(3)).add(1, 1, delta(3)))
    h = net.conv(h, w[1], 3, Rows(2).add(0, 0, delta(3)).add(1, 1, delta(3)))
    # Stride 4: s0 blob at stride 4, s1 lung, s2 dense (for stride 8).
    h = net.max_pool(h)
    h = net.conv(h, w[2], 3, Rows(2).add(0, 0, delta(3)).add(1, 1, delta(3)))
    rows = _blob(0, Rows(3).add(1, 1, delta(5)).add(2, 0, delta(5)))
    enc4 = net.conv(h, w[2], 5, rows)
    # Stride 8: s0 blob at stride 8 (larger nodules).
    h = net.max_pool(enc4)
    h = net.conv(h, w[3], 3, Rows(1).add(0, 2, delta(3)))
    enc8 = net.conv(h, w[3], 5, _blob(0))
    # Stride 16: context (filler only).
    h = net.max_pool(enc8)
    h = net.conv(h, w[4], 3)
    h = net.conv(h, w[4], 3)
    # Decoder to stride 8.
    up = net.up(h, w[3])
    cat, (_, o_skip) = net.concat([up, enc8])
    h = net.conv(cat, w[3], 3, Rows(1).add(0, o_skip, delta(3)))
    h = net.conv(h, w[3], 3, Rows(1).add(0, 0, delta(3)))
    # Decoder to stride 4: s0 blob at either scale, s1 lung around the cell (3x3 mean of "any lung").
    up = net.up(h, w[2], Rows(1).add(0, 0, bilinear_up()))
    cat, (o_up, o_skip) = net.concat([up, enc4])
    rows = Rows(2).add(0, o_up, delta(3)).add(0, o_skip, delta(3)).add(1, o_skip + 1, box(3))
    h = net.conv(cat, w[2], 3, rows)
    h = net.conv(h, w[2], 3, Rows(2).add(0, 0, delta(3)).add(1, 1, delta(3)))
    weights = np.zeros((1, h.channels))
    weights[0, :2] = [10.0, 6.0]
    logits = head_conv(h.node, weights, np.array([-12.0]))
    model = ov.Model([ops.result(ops.sigmoid(logits))], [param], f"{NAME}_{variant}")
    return finish(model, [INPUT], [OUTPUT])


def lung_probability(lung_logits: np.ndarray) -> np.ndarray:
    """The ``lung_segmentation`` output as channel 1 of this model's input: sigmoid of the logits."""
    return (1.0 / (1.0 + np.exp(-np.clip(lung_logits, -30, 30)))).astype(np.float32)


def synthetic_inputs(rng: np.random.Generator, count: int) -> list[dict[str, np.ndarray]]:
    """``count`` single-slice requests: synthetic chest CT slices through a nodule, with their true lung mask
    (smoothed, as a segmentation probability would be) as channel 1."""
    items = []
    while len(items) < count:
        ct = phantoms.chest_ct(rng, slices=9, n_nodules=2, n_vessels=5)
        z = int(round(ct.nodules[0][0][0])) if ct.nodules else 4
        z = min(max(z, 0), ct.volume.shape[0] - 1)
        lung = phantoms._blur(ct.lung_mask[z].astype(np.float32), 1)
        items.append({INPUT: np.stack([ct.volume[z], lung])[None].astype(np.float32)})
    return items


def gate_metrics(reference: list[dict], candidate: list[dict]) -> dict:
    """INT8 gate: heatmap peak agreement (peaks >= 0.5 matched within one cell, both directions)."""
    from model_repository.gates import peak_agreement

    ref = np.concatenate([r[OUTPUT][:, 0] for r in reference])
    cand = np.concatenate([c[OUTPUT][:, 0] for c in candidate])
    return peak_agreement(ref, cand, threshold=GATE_MIN_AGREEMENT)


GATE_MIN_AGREEMENT = 0.9
CARD = {
    "task": "lung nodule candidate detection on axial CT slices (stage 2 of lung_nodule)",
    "modality": "CT, axial slices of a chest series, with the stage-1 lung probability",
    "architecture": "encoder-decoder: 5 encoder levels (strides 1-16, 2 conv each, 5x5 last conv at strides 4 "
                    "and 8, max-pool), decoder back to stride 4 (transposed-conv up-sampling + skip "
                    "concatenation + 2x 3x3 conv), 1x1 head, sigmoid",
    "inputs": [{"name": INPUT, "shape": [-1, 2, SIZE, SIZE], "dtype": "float32", "layout": "NCHW",
                "preprocessing": {
                    "channel_0": "the CT slice as for lung_segmentation: HU clipped to [-1000, 1000] / 1000",
                    "channel_1": "lung probability of the same slice: sigmoid(lung_segmentation lung_logits)"}}],
    "outputs": [{"name": OUTPUT, "shape": [-1, 1, SIZE // STRIDE, SIZE // STRIDE], "dtype": "float32",
                 "meaning": "probability that a nodule centre lies in each 4x4-pixel cell (cell (i, j) covers "
                            "rows 4i..4i+3, columns 4j..4j+3)"}],
    "gate_metric": "heatmap detection agreement (detections >= 0.5 matched by >= 0.3 within 1 cell, both ways) "
                   f">= {GATE_MIN_AGREEMENT}",
    "weights": "hand-set demo weights (signal channels: dense window, centre-surround blob detector at strides "
               "4 and 8, lung context) plus seeded random filler channels; not trained",
}
# The stage before this one (its output feeds channel 1).
UPSTREAM = lung_segmentation.NAME
