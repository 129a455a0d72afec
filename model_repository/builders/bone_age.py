"""Bone-age regression network built with the OpenVINO opset API (no training framework, no downloads).

The graph is a ResNet-18-class backbone on a single-channel 512x512 radiograph, global average pooling, the
patient's sex concatenated to the pooled features, and a two-layer MLP head whose output is squashed into the
0..228 month range (0..19 years, the span of the Greulich & Pyle atlas).

Weights are deterministic demo weights from a seeded NumPy RNG. Batch normalisation is represented the way it
ends up after deployment-time folding: a convolution with a per-channel bias. The folded scale/shift is computed
from activation statistics on a small synthetic calibration set (data-dependent initialisation), which keeps
activations in a sane range through every block and makes the output vary with the image instead of saturating
the sigmoid. This is a demo network: it has never seen a radiograph.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import openvino as ov
import openvino.opset13 as ops

INPUT_IMAGE = "image"
INPUT_SEX = "sex"
OUTPUT_NAME = "bone_age_months"
IMAGE_SIZE = 512
# Upper bound of the regression range in months (19 years: end of the Greulich & Pyle atlas).
MAX_MONTHS = 228.0


@dataclass(frozen=True)
class BoneAgeVariant:
    """Architecture hyper-parameters of one variant."""

    name: str
    stem_channels: int
    stage_channels: tuple[int, ...]
    blocks_per_stage: tuple[int, ...]
    head_hidden: int


VARIANTS: dict[str, BoneAgeVariant] = {
    # ResNet-18 layout: 7x7/2 stem, 3x3/2 max-pool, four stages of two basic blocks.
    "full": BoneAgeVariant("full", 64, (64, 128, 256, 512), (2, 2, 2, 2), 128),
    # Same topology, a quarter of the width and one block per stage: fast enough for CI.
    "small": BoneAgeVariant("small", 16, (16, 32, 64, 128), (1, 1, 1, 1), 32),
}


def variant_params(variant: str) -> dict:
    """Return the hyper-parameters of ``variant`` as a JSON-serialisable dict."""
    v = VARIANTS[variant]
    d = asdict(v)
    d["stage_channels"] = list(v.stage_channels)
    d["blocks_per_stage"] = list(v.blocks_per_stage)
    return d


def synthetic_calibration_images(rng: np.random.Generator, count: int = 6) -> np.ndarray:
    """Smooth synthetic "radiograph-like" images in [0, 1], shape [count, 1, 512, 512].

    A dark letterboxed background, a bright elongated blob field (bones/soft tissue) and some noise, so that the
    calibration statistics resemble preprocessed hand radiographs more than white noise does.
    """
    yy, xx = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE].astype(np.float32) / IMAGE_SIZE
    images = np.zeros((count, 1, IMAGE_SIZE, IMAGE_SIZE), np.float32)
    for i in range(count):
        img = np.full((IMAGE_SIZE, IMAGE_SIZE), 0.05, np.float32)
        for _ in range(int(rng.integers(8, 20))):
            cx, cy = rng.uniform(0.2, 0.8, 2)
            sx, sy = rng.uniform(0.01, 0.08), rng.uniform(0.03, 0.2)
            amp = rng.uniform(0.2, 0.8)
            img += amp * np.exp(-(((xx - cx) / sx) ** 2 + ((yy - cy) / sy) ** 2) / 2)
        img += rng.normal(0, 0.02, img.shape).astype(np.float32)
        images[i, 0] = np.clip(img, 0.0, 1.0)
    return images


def _channels(x) -> int:
    out = x.output(0) if isinstance(x, ov.Node) else x
    return out.get_partial_shape()[1].get_length()


class _Builder:
    """Builds the graph layer by layer, calibrating each folded conv+bias on the calibration batch."""

    def __init__(self, rng: np.random.Generator, calib: np.ndarray, core: ov.Core):
        self.rng = rng
        self.core = core
        self.calib = calib
        self.param = ops.parameter([calib.shape[0], 1, IMAGE_SIZE, IMAGE_SIZE], np.float32, name=INPUT_IMAGE)
        # Convolutions as (weights, bias) lists; graph rebuilt from these for the final batch-1 model.
        self._calib_cache: dict[int, np.ndarray] = {}

    def _run(self, node: ov.Node) -> np.ndarray:
        model = ov.Model([node], [self.param], "calibration")
        compiled = self.core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        return compiled({0: self.calib})[0]

    def conv(self, x: ov.Node, out_ch: int, k: int, stride: int, relu: bool, gain: float = 1.0) -> ov.Node:
        """Conv with He-initialised weights and a folded-BN per-channel scale/bias set from calibration data.

        ``gain`` is the target standard deviation of the (pre-ReLU) output; residual branches use a gain below 1
        so the sum of identity and branch stays bounded through the stages.
        """
        in_ch = _channels(x)
        fan_in = in_ch * k * k
        w = self.rng.normal(0.0, np.sqrt(2.0 / fan_in), (out_ch, in_ch, k, k)).astype(np.float32)
        pad = k // 2
        y = ops.convolution(x, ops.constant(w), [stride, stride], [pad, pad], [pad, pad], [1, 1])
        # Folded batch norm: y_bn = gain * (y - mean) / std + beta, with a small random beta.
        stats = self._run(y)
        mean = stats.mean(axis=(0, 2, 3))
        std = stats.std(axis=(0, 2, 3)) + 1e-5
        beta = self.rng.normal(0.0, 0.1 * gain, out_ch).astype(np.float32)
        scale = (gain / std).astype(np.float32)
        w_folded = w * scale[:, None, None, None]
        b_folded = (beta - mean * scale).astype(np.float32)
        y = ops.convolution(x, ops.constant(w_folded), [stride, stride], [pad, pad], [pad, pad], [1, 1])
        y = ops.add(y, ops.constant(b_folded.reshape(1, out_ch, 1, 1)))
        return ops.relu(y) if relu else y

    def basic_block(self, x: ov.Node, out_ch: int, stride: int, branch_gain: float) -> ov.Node:
        in_ch = _channels(x)
        h = self.conv(x, out_ch, 3, stride, relu=True)
        h = self.conv(h, out_ch, 3, 1, relu=False, gain=branch_gain)
        shortcut = x if (stride == 1 and in_ch == out_ch) else self.conv(x, out_ch, 1, stride, relu=False)
        return ops.relu(ops.add(h, shortcut))


def make_bone_age_model(variant: str = "full", seed: int = 20240611) -> ov.Model:
    """Build the bone-age ``ov.Model`` for ``variant`` ("full" or "small") from seeded demo weights.

    Returns a model with inputs ``image`` [1,1,512,512] f32 and ``sex`` [1,1] f32 (1.0 male, 0.0 female) and
    output ``bone_age_months`` [1,1] f32 in 0..228. Raises KeyError for an unknown variant.
    """
    spec = VARIANTS[variant]
    rng = np.random.default_rng(seed)
    core = ov.Core()
    calib = synthetic_calibration_images(np.random.default_rng(seed + 1))
    b = _Builder(rng, calib, core)

    x = b.conv(b.param, spec.stem_channels, 7, 2, relu=True)
    x = ops.max_pool(x, [2, 2], [1, 1], [1, 1], [1, 1], [3, 3]).output(0)
    for stage, (ch, n_blocks) in enumerate(zip(spec.stage_channels, spec.blocks_per_stage)):
        for block in range(n_blocks):
            stride = 2 if (stage > 0 and block == 0) else 1
            x = b.basic_block(x, ch, stride, branch_gain=0.5)
    pooled = ops.reduce_mean(x, ops.constant(np.array([2, 3], np.int64)), keep_dims=False)

    # Head calibration in NumPy: standardise pooled features (folded into the first FC layer) and scale the
    # final layer so calibration logits have unit spread around 0 (≈114 months), away from sigmoid saturation.
    feats = b._run(pooled).astype(np.float64)
    f_mean, f_std = feats.mean(axis=0), feats.std(axis=0) + 1e-3
    n_feat = feats.shape[1]
    hidden = spec.head_hidden
    w1 = rng.normal(0.0, np.sqrt(2.0 / (n_feat + 1)), (n_feat + 1, hidden))
    b1 = rng.normal(0.0, 0.05, hidden)
    # Sex is a strong covariate of bone age (girls mature earlier): give its row a larger weight.
    w1[n_feat] *= 4.0
    w1_folded = w1.copy()
    w1_folded[:n_feat] /= f_std[:, None]
    b1_folded = b1 - (f_mean / f_std) @ w1[:n_feat]
    w2 = rng.normal(0.0, np.sqrt(2.0 / hidden), (hidden, 1))
    calib_in = np.concatenate(
        [np.concatenate([feats, np.ones((len(feats), 1))], 1), np.concatenate([feats, np.zeros((len(feats), 1))], 1)]
    )
    logits = np.maximum(calib_in @ w1_folded + b1_folded, 0.0) @ w2
    w2 = w2 / (logits.std() + 1e-6)
    b2 = -float((np.maximum(calib_in @ w1_folded + b1_folded, 0.0) @ w2).mean())

    # Rebuild the calibrated graph on batch-1 parameters by cloning with a reshaped input.
    sex = ops.parameter([calib.shape[0], 1], np.float32, name=INPUT_SEX)
    h = ops.concat([pooled, sex], axis=1)
    h = ops.relu(ops.add(ops.matmul(h, ops.constant(w1_folded.astype(np.float32)), False, False),
                         ops.constant(b1_folded.astype(np.float32))))
    logit = ops.add(ops.matmul(h, ops.constant(w2.astype(np.float32)), False, False),
                    ops.constant(np.array([b2], np.float32)))
    months = ops.multiply(ops.sigmoid(logit), ops.constant(np.array(MAX_MONTHS, np.float32)))
    result = ops.result(months, name=OUTPUT_NAME)
    model = ov.Model([result], [b.param, sex], f"bone_age_{variant}")

    model.reshape({INPUT_IMAGE: [1, 1, IMAGE_SIZE, IMAGE_SIZE], INPUT_SEX: [1, 1]})
    model.inputs[0].get_tensor().set_names({INPUT_IMAGE})
    model.inputs[1].get_tensor().set_names({INPUT_SEX})
    model.outputs[0].get_tensor().set_names({OUTPUT_NAME})
    months.set_friendly_name(OUTPUT_NAME + "/sink_port_0")
    return model
