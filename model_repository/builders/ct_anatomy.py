"""CT anatomy: per-slice body-region classification with a ResNet-18 (the ct_anatomy assessment).

Input ``slices`` [-1, 1, 256, 256] (axial CT slices, HU clipped to [-1000, 1000] / 1000); output
``region_logits`` [-1, 6] over ``REGIONS`` (head, neck, chest, abdomen, pelvis, lower_limbs). ResNet-18
(He et al. 2016): 7x7/2 stem, 3x3/2 max-pool, four stages of two basic blocks (widths 64/128/256/512), global
average pooling, a fully connected layer. ``small``: widths 16/32/64/128, one block per stage.

Demo weights (``builders/common.py``): five signal channels are intensity windows, namely not outside air
(> -930 HU), denser than lung (> -450 HU), bone (> 250 HU), and two edges of the fat window (> -200 HU,
> -50 HU), carried through the blocks (averaged at every down-sampling) to the global pool, which turns them
into area fractions: body, lung (body minus denser-than-lung), bone, fat. The classifier is a nearest-class-mean
rule on those fractions (linear in them: per-class means and per-feature spreads measured at build time on
seeded synthetic slices of each region, ``phantoms.ct_slices``), so **the region follows visible content**:
lung air makes a chest, a bone ring around brain a head, two small limbs lower limbs. Not trained: demo, not
for diagnostic use.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from model_repository.builders import phantoms
from model_repository.builders.common import Net, Rows, T, basic_block, delta, finish

NAME = "ct_anatomy"
INPUT = "slices"
OUTPUT = "region_logits"
SIZE = 256
REGIONS = phantoms.CT_REGIONS
N_SIGNAL = 5
# Build-time calibration of the head: synthetic slices per region.
HEAD_SLICES_PER_REGION = 4
# Target median margin (top-1 minus top-2 logit) on the calibration slices: confident, not saturated.
TARGET_MARGIN = 4.0


@dataclass(frozen=True)
class Variant:
    name: str
    stem: int
    stages: tuple[int, ...]
    blocks: int


VARIANTS = {"full": Variant("full", 64, (64, 128, 256, 512), 2), "small": Variant("small", 16, (16, 32, 64, 128), 1)}


def variant_params(variant: str) -> dict:
    """Hyper-parameters of ``variant`` as a JSON-serialisable dict."""
    d = asdict(VARIANTS[variant])
    d["stages"] = list(d["stages"])
    return d


def _fractions(pooled: np.ndarray) -> np.ndarray:
    """Pooled signal channels -> (body, lung, bone, fat) area fractions, [N, 4]."""
    n, dense, bone, fat_hi, fat_lo = (pooled[:, i] for i in range(N_SIGNAL))
    return np.stack([n, n - dense, bone, fat_hi - fat_lo], axis=1)


# The fractions as a linear map of the pooled signal channels (rows: body, lung, bone, fat).
FRACTIONS = np.array([[1, 0, 0, 0, 0], [1, -1, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 1, -1]], np.float64)


def make_model(variant: str = "full", seed: int = 20240611) -> ov.Model:
    """Build the CT-anatomy ResNet-18 for ``variant`` with seeded demo weights (dynamic batch)."""
    return make_model_calibrated(variant, seed)[0]


def make_model_calibrated(variant: str = "full", seed: int = 20240611) -> tuple[ov.Model, dict]:
    """As ``make_model``, also returning the head calibration record for the model card."""
    spec = VARIANTS[variant]
    net = Net(np.random.default_rng(seed + 23))
    param = ops.parameter([-1, 1, SIZE, SIZE], np.float32, name=INPUT)
    x = T(param.output(0), 1, 1)
    rows = Rows(N_SIGNAL)
    for i, bias in enumerate((23.25, 11.25)):  # > -930 HU, > -450 HU
        rows.add(i, 0, 25 * delta(7)).set_bias(i, bias)
    rows.add(2, 0, 10 * delta(7)).set_bias(2, -2.5)  # > 250 HU
    for i, bias in ((3, 5.0), (4, 1.25)):  # > -200 HU, > -50 HU
        rows.add(i, 0, 25 * delta(7)).set_bias(i, bias)
    h = net.conv(x, spec.stem, 7, rows, stride=2)
    h = net.max_pool(h, k=3, stride=2, pad=1)
    for stage, width in enumerate(spec.stages):
        for block in range(spec.blocks):
            h = basic_block(net, h, width, 2 if (stage > 0 and block == 0) else 1, N_SIGNAL)
    pooled = ops.reduce_mean(h.node, ops.constant(np.array([2, 3], np.int64)), keep_dims=False)

    # Head calibration (data-dependent, as bone_age's): the pooled signal fractions on seeded synthetic slices.
    images, labels = phantoms.ct_slices(np.random.default_rng(seed + 24), HEAD_SLICES_PER_REGION * len(REGIONS))
    probe = ov.Core().compile_model(ov.Model([pooled], [param], "probe"), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    feats = _fractions(probe({0: images})[0][:, :N_SIGNAL].astype(np.float64))
    means = np.stack([feats[labels == k].mean(axis=0) for k in range(len(REGIONS))])
    within = np.sqrt(np.mean([(feats[labels == k] - means[k]) ** 2 for k in range(len(REGIONS))], axis=(0, 1)))
    spread = np.maximum(within, 0.02)  # no feature may dominate through a tiny spread
    # Nearest class mean with a diagonal metric, written as a linear layer: the |f|^2 term is common to all
    # classes and drops out of the arg-max and the softmax.
    w_frac = (means / spread ** 2).T  # [4, classes]
    b = -0.5 * ((means / spread) ** 2).sum(axis=1)
    raw = feats @ w_frac + b
    top2 = np.sort(raw, axis=1)[:, -2:]
    scale = TARGET_MARGIN / max(float(np.median(top2[:, 1] - top2[:, 0])), 1e-6)
    w = np.zeros((h.channels, len(REGIONS)))
    w[:N_SIGNAL] = FRACTIONS.T @ w_frac * scale
    bias = b * scale
    logits = ops.add(ops.matmul(pooled, ops.constant(w.astype(np.float32)), False, False),
                     ops.constant(bias.astype(np.float32)))
    accuracy = float(np.mean(np.argmax(raw, axis=1) == labels))
    calibration = {
        "method": "nearest class mean on pooled signal fractions (body, lung, bone, fat), diagonal metric, "
                  f"scaled to a median top-1 margin of {TARGET_MARGIN}",
        "images": f"{len(images)} seeded synthetic CT slices, {HEAD_SLICES_PER_REGION} per region",
        "class_means": {r: [round(float(v), 4) for v in means[k]] for k, r in enumerate(REGIONS)},
        "feature_spread": [round(float(v), 4) for v in spread],
        "calibration_accuracy": round(accuracy, 4),
    }
    model = ov.Model([ops.result(logits)], [param], f"{NAME}_{variant}")
    return finish(model, [INPUT], [OUTPUT]), calibration


def synthetic_inputs(rng: np.random.Generator, count: int) -> list[dict[str, np.ndarray]]:
    """``count`` single-slice requests cycling through the regions (``phantoms.ct_slices``)."""
    images, _ = phantoms.ct_slices(rng, count)
    return [{INPUT: np.ascontiguousarray(image[None])} for image in images]


def gate_metrics(reference: list[dict], candidate: list[dict]) -> dict:
    """INT8 gate: top-1 region agreement between FP32 and INT8 over the held-out slices."""
    from model_repository.gates import top1_agreement

    ref = np.concatenate([r[OUTPUT] for r in reference])
    cand = np.concatenate([c[OUTPUT] for c in candidate])
    return top1_agreement(ref, cand, threshold=GATE_MIN_AGREEMENT)


GATE_MIN_AGREEMENT = 0.95
CARD = {
    "task": "per-slice CT body-region classification (ct_anatomy)",
    "modality": "CT, axial slices of a series",
    "architecture": "ResNet-18 (7x7/2 stem, 3x3/2 max-pool, 4 stages of basic blocks, conv + folded BN bias + "
                    "ReLU1), global average pooling, fully connected layer over 6 regions",
    "inputs": [{"name": INPUT, "shape": [-1, 1, SIZE, SIZE], "dtype": "float32", "layout": "NCHW",
                "preprocessing": {
                    "slices": "every axial slice of the series, in slice order, each resampled to 256x256 "
                              "(whole field of view)",
                    "scaling": "Hounsfield units clipped to [-1000, 1000] and divided by 1000: [-1, 1] float32"}}],
    "outputs": [{"name": OUTPUT, "shape": [-1, len(REGIONS)], "dtype": "float32",
                 "meaning": "logits over " + ", ".join(REGIONS) + " (softmax for probabilities)",
                 "classes": list(REGIONS)}],
    "gate_metric": f"top-1 agreement between FP32 and INT8 over the held-out slices >= {GATE_MIN_AGREEMENT}",
    "weights": "hand-set demo weights (signal channels: HU windows carried to the global pool; head: nearest "
               "class mean fitted at build time on synthetic slices) plus seeded random filler channels; "
               "not trained",
}
