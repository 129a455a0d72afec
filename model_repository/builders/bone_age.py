"""Bone-age regression network built with the OpenVINO opset API (no training framework, no downloads).

The graph is a ResNet-18-class backbone on a single-channel 512x512 radiograph, global average pooling, the
patient's sex concatenated to the pooled features, and a two-layer MLP head whose output is squashed into the
0..228 month range (0..19 years, the span of the Greulich & Pyle atlas).

Weights are deterministic demo weights from a seeded NumPy RNG, shaped to behave like a trained network's in one
respect that matters for deployment: the output follows stable, large-scale image structure, so tiny perturbations
(input noise, bf16, INT8) barely move it. He-initialised zero-mean random filters do not: stacked, they act as
random high-frequency projections, and every output channel is a small difference of large, correlated inputs that
the normalisation then amplifies (bf16 alone moved the output ~1 month, INT8 ~5 months). So every kernel is a
random combination of smooth basis kernels (Gaussian low-pass with non-negative coefficients, plus signed x/y
derivative and, in the stem, centre-surround terms) with a small random part; projection shortcuts are
identity-like; residual branches are scaled down (SkipInit/Fixup style). Batch normalisation is represented the
way it ends up after deployment-time folding: a convolution with a per-channel bias, the folded scale/shift set
from activation statistics on a small synthetic calibration set (data-dependent initialisation, each channel's
spread floored at a fraction of the layer median). The head is calibrated on a larger set of synthetic letterboxed
hand radiographs (``synthetic_radiographs``, shaped like ``studies.imaging.preprocess_bone_age`` output): pooled
features are projected onto their top principal components over those images (directions of large image-to-image
variation, where perturbations are small next to the signal) and the last layer scaled and shifted so the
pre-sigmoid logit has mean 0 and SD 0.6 there, so realistic radiographs land mid-range and the output varies with
the image instead of saturating the sigmoid; sex shifts it by a few months. Everything is seeded and runs on the
CPU plugin in f32, so the same seed gives bit-identical weights. This is a demo network: it has never seen a
radiograph.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import openvino as ov
import openvino.opset13 as ops

INPUT_IMAGE = "image"
INPUT_SEX = "sex"
OUTPUT_NAME = "bone_age_months"
ATTENTION_NAME = "attention_map"
ATTENTION_SIZE = 16  # the last stage's grid: 512 / 32
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


def _draw_segment(img: np.ndarray, a, b, width: float, amp: float, sharp: bool = False) -> None:
    """Add a line segment from ``a`` to ``b`` ((x, y) in pixels) to ``img``.

    Profile across the segment: Gaussian with sigma ``width`` (soft tissue), or with ``sharp`` a flat top of
    half-width ``width`` with a ~1 px edge (cortical bone).
    """
    h, w = img.shape
    margin = 3.0 * width + 3.0
    x0, x1 = int(max(0, np.floor(min(a[0], b[0]) - margin))), int(min(w, np.ceil(max(a[0], b[0]) + margin) + 1))
    y0, y1 = int(max(0, np.floor(min(a[1], b[1]) - margin))), int(min(h, np.ceil(max(a[1], b[1]) + margin) + 1))
    if x0 >= x1 or y0 >= y1:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    dx, dy = b[0] - a[0], b[1] - a[1]
    length2 = dx * dx + dy * dy
    t = np.zeros_like(xx) if length2 < 1e-9 else np.clip(((xx - a[0]) * dx + (yy - a[1]) * dy) / length2, 0.0, 1.0)
    d2 = (xx - a[0] - t * dx) ** 2 + (yy - a[1] - t * dy) ** 2
    if sharp:
        profile = 1.0 / (1.0 + np.exp(np.clip((np.sqrt(d2) - width) / 0.6, -30.0, 30.0)))
    else:
        profile = np.exp(-0.5 * d2 / (width * width))
    img[y0:y1, x0:x1] += np.float32(amp) * profile.astype(np.float32)


def _box_blur(img: np.ndarray, radius: int) -> np.ndarray:
    """Separable box blur (edge-replicated) of a 2-D float32 image."""
    k = 2 * radius + 1
    out = np.pad(img, radius, mode="edge").astype(np.float64)
    for axis in (0, 1):
        c = np.cumsum(np.insert(out, 0, 0.0, axis=axis), axis=axis)
        hi = [slice(None)] * 2
        lo = [slice(None)] * 2
        hi[axis], lo[axis] = slice(k, None), slice(None, -k)
        out = (c[tuple(hi)] - c[tuple(lo)]) / k
    return out.astype(np.float32)


def synthetic_radiographs(rng: np.random.Generator, count: int = 24) -> np.ndarray:
    """Synthetic left-hand PA radiographs as the platform's preprocessing delivers them, [count, 1, 512, 512].

    Mirrors ``studies.imaging.preprocess_bone_age``: a portrait (sometimes landscape) detector image, aspect ratio
    preserved, centred on a zero (black) letterbox, values in [0, 1]. Inside: a dark, slightly graded and noisy
    detector background, faint soft tissue (forearm, palm, fingers), bright thin bones (radius and ulna, carpals,
    metacarpals and phalanges with growth-plate gaps), an optional side marker and collimation band, under a
    random hand pose, size, exposure and contrast, usually with the unsharp-mask edge enhancement detector software
    applies (fine detail and noise dominate a random backbone's features: without them real radiographs sit far
    outside the calibration set). Deterministic for a given ``rng`` state.
    """
    images = np.zeros((count, 1, IMAGE_SIZE, IMAGE_SIZE), np.float32)
    for i in range(count):
        if rng.uniform() < 0.8:
            rows, cols = IMAGE_SIZE, int(IMAGE_SIZE * rng.uniform(0.62, 0.95))
        else:
            rows, cols = int(IMAGE_SIZE * rng.uniform(0.7, 0.95)), IMAGE_SIZE
        yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
        background = rng.uniform(0.0, 0.1)
        img = np.full((rows, cols), background, np.float32)
        img += np.float32(rng.uniform(-0.04, 0.04)) * (xx / cols - 0.5) + np.float32(rng.uniform(-0.04, 0.04)) * (
            yy / rows - 0.5)
        if rng.uniform() < 0.3:  # collimation / detector edge band
            band = int(cols * rng.uniform(0.04, 0.15))
            side = slice(0, band) if rng.uniform() < 0.5 else slice(cols - band, cols)
            img[:, side] += rng.uniform(0.05, 0.25)
        hand = np.zeros((rows, cols), np.float32)
        scale = rows * rng.uniform(0.8, 1.35)
        angle = np.deg2rad(rng.uniform(-15.0, 15.0))
        mirror = -1.0 if rng.uniform() < 0.2 else 1.0
        cx, cy = cols / 2 + rng.uniform(-0.06, 0.06) * cols, rows * rng.uniform(-0.05, 0.1)
        cos, sin = np.cos(angle), np.sin(angle)

        def px(u: float, v: float) -> tuple[float, float]:
            # Hand coordinates: u across (0.5 = axis), v down (0 = fingertips, 1 = forearm), in units of ``scale``.
            x, y = mirror * (u - 0.5) * scale, (v - 0.5) * scale
            return cx + cos * x - sin * y, cy + rows / 2 + sin * x + cos * y

        def seg(a, b, width, amp, sharp=True):  # sharp: bone; soft tissue passes sharp=False
            _draw_segment(hand, px(*a), px(*b), width * scale, amp, sharp=sharp)

        tissue = rng.uniform(0.05, 0.3)
        bone = rng.uniform(0.35, 0.9)
        thick = rng.uniform(0.8, 1.6)  # bone width
        maturity = rng.uniform(0.0, 1.0)  # wider growth-plate gaps and fewer carpals when young
        gap = 0.012 * (1.0 - maturity) + 0.002
        seg((0.5, 1.3), (0.5, 0.64), 0.07, tissue, sharp=False)  # forearm
        seg((0.5, 0.6), (0.5, 0.5), 0.09, tissue, sharp=False)  # palm
        seg((0.55, 1.3), (0.555, 0.64), thick * rng.uniform(0.012, 0.02), bone)  # radius
        seg((0.45, 1.3), (0.455, 0.645), thick * rng.uniform(0.009, 0.015), bone * 0.9)  # ulna
        for _ in range(int(2 + 6 * maturity)):  # carpals
            c = (rng.uniform(0.44, 0.56), rng.uniform(0.57, 0.62))
            seg(c, c, thick * rng.uniform(0.008, 0.014), bone * rng.uniform(0.6, 1.0))
        spread = rng.uniform(4.0, 18.0)
        for f in range(4):  # fingers: metacarpal + three phalanges
            base = (0.44 + 0.04 * f, 0.56)
            theta = np.deg2rad(-1.5 * spread + spread * f + rng.uniform(-3.0, 3.0))
            direction = (np.sin(theta), -np.cos(theta))
            start, lengths = base, (0.12, 0.07, 0.045, 0.03)
            end_of_finger = base
            for k, length in enumerate(lengths):
                length *= rng.uniform(0.9, 1.1) * (1.0 if f in (1, 2) else 0.88)
                end = (start[0] + direction[0] * length, start[1] + direction[1] * length)
                seg(start, end, thick * (0.009 - 0.001 * k), bone)
                end_of_finger = end
                start = (end[0] + direction[0] * gap, end[1] + direction[1] * gap)
            seg(base, end_of_finger, 0.022, tissue * 0.8, sharp=False)
        theta = np.deg2rad(rng.uniform(35.0, 60.0))  # thumb
        direction = (np.sin(theta), -np.cos(theta))
        start = (0.57, 0.6)
        for length in (0.08, 0.05, 0.035):
            end = (start[0] + direction[0] * length, start[1] + direction[1] * length)
            seg(start, end, thick * 0.009, bone)
            start = (end[0] + direction[0] * gap, end[1] + direction[1] * gap)
        seg((0.57, 0.6), start, 0.022, tissue * 0.8, sharp=False)
        img += hand * np.float32(rng.uniform(0.7, 1.3))
        if rng.uniform() < 0.6:  # side marker ("L")
            mx, my, size = cols * rng.uniform(0.6, 0.9), rows * rng.uniform(0.1, 0.4), rows * 0.02
            _draw_segment(img, (mx, my), (mx, my + size), 1.0, 0.9, sharp=True)
            _draw_segment(img, (mx, my + size), (mx + 0.6 * size, my + size), 1.0, 0.9, sharp=True)
        if rng.uniform() < 0.8:  # detector post-processing: unsharp-mask edge enhancement of varying strength
            img = img + np.float32(rng.uniform(0.2, 2.0)) * (img - _box_blur(img, int(rng.integers(1, 5))))
        img += rng.normal(0.0, rng.uniform(0.005, 0.04), img.shape).astype(np.float32)
        img = np.clip(img, 0.0, 1.0) ** np.float32(rng.uniform(0.8, 1.5))
        top, left = (IMAGE_SIZE - rows) // 2, (IMAGE_SIZE - cols) // 2
        images[i, 0, top:top + rows, left:left + cols] = img
    return images


def _channels(x) -> int:
    out = x.output(0) if isinstance(x, ov.Node) else x
    return out.get_partial_shape()[1].get_length()


# Demo-weight shape (see ``_Builder._weights``): relative size of the random (non-smooth) part of every kernel,
# of the random channel mix added to the identity-like 1x1 projection shortcuts, the floor on a channel's spread
# (fraction of the layer median) in the BN fold, and the target SD of each residual branch relative to its input.
SMOOTH_NOISE = 0.1
SHORTCUT_MIX = 0.3
STD_FLOOR = 0.2
BRANCH_GAIN = 0.2


def _gaussian_1d(k: int, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Sampled Gaussian of width ``sigma`` on ``k`` taps and its derivative (both float64)."""
    t = np.arange(k, dtype=np.float64) - (k - 1) / 2
    g = np.exp(-0.5 * (t / sigma) ** 2)
    return g, -t * g


def _smooth_bank(k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit-norm smooth ``k`` x ``k`` basis kernels ``[n, k, k]`` and the SD of their random coefficients ``[n]``.

    3x3: the binomial low-pass and its x/y derivatives (Sobel). Larger (the 7x7 stem): a Gaussian and its x/y
    derivatives at two scales, and a centre-surround difference of Gaussians (thin bright structures). The low-pass
    terms get the largest coefficients: features are dominated by local intensity, then edges.
    """
    kernels, amplitude = [], []
    if k == 3:
        scales = [(np.array([1.0, 2.0, 1.0]), np.array([-1.0, 0.0, 1.0]))]
    else:
        scales = [_gaussian_1d(k, s) for s in (k / 7.0, 2.0 * k / 7.0)]
    for g, d in scales:
        kernels += [np.outer(g, g), np.outer(g, d), np.outer(d, g)]
        amplitude += [1.0, 0.5, 0.5]
    if k > 3:
        g1, _ = _gaussian_1d(k, k / 7.0)
        g2, _ = _gaussian_1d(k, 2.0 * k / 7.0)
        kernels.append(np.outer(g1, g1) / np.outer(g1, g1).sum() - np.outer(g2, g2) / np.outer(g2, g2).sum())
        amplitude.append(0.5)
    bank = np.stack([kk / np.linalg.norm(kk) for kk in kernels])
    lowpass = np.array([bool(np.all(kk >= 0)) for kk in kernels])
    return bank, np.array(amplitude), lowpass


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

    def run_batched(self, node: ov.Node, images: np.ndarray) -> np.ndarray:
        """Run the graph up to ``node`` on ``images`` (any count), in chunks of the calibration batch size."""
        model = ov.Model([node], [self.param], "calibration")
        compiled = self.core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        batch = self.calib.shape[0]
        outputs = []
        for start in range(0, len(images), batch):
            chunk = images[start:start + batch]
            n = len(chunk)
            if n < batch:  # pad the last chunk with its own first image; the padding rows are dropped
                chunk = np.concatenate([chunk, np.repeat(chunk[:1], batch - n, axis=0)])
            outputs.append(compiled({0: np.ascontiguousarray(chunk)})[0][:n])
        return np.concatenate(outputs)

    def _weights(self, out_ch: int, in_ch: int, k: int) -> np.ndarray:
        """Demo kernels: a random combination of smooth basis kernels plus a small random part, ``[out, in, k, k]``.

        Each (output, input) kernel is ``sum_b c_b * B_b + SMOOTH_NOISE * R`` where ``B_b`` are unit-norm smooth
        kernels (a Gaussian and its x/y derivatives, at several scales for the 7x7 stem), ``c_b`` random with the
        Gaussian (low-pass) term dominant, and ``R`` a unit-norm random kernel. Features then follow local
        intensity and edges at growing scales, as a trained network's do, instead of projecting pixel noise.
        1x1 kernels (projection shortcuts) are an identity-like channel map plus a small random mix.
        """
        if k == 1:
            w = SHORTCUT_MIX * np.abs(self.rng.normal(0.0, 1.0 / np.sqrt(in_ch), (out_ch, in_ch)))
            w[np.arange(out_ch), np.arange(out_ch) % in_ch] += 1.0
            return w.astype(np.float32)[:, :, None, None]
        bank, amplitude, lowpass = _smooth_bank(k)
        coeff = self.rng.normal(0.0, 1.0, (out_ch, in_ch, len(bank))) * amplitude
        # Low-pass terms add up their inputs (non-negative coefficients): no output channel is a small difference
        # of large, correlated inputs, whose normalisation would amplify any perturbation of them.
        coeff[..., lowpass] = np.abs(coeff[..., lowpass])
        w = np.einsum("oib,bhw->oihw", coeff, bank)
        w += SMOOTH_NOISE * np.sqrt((coeff ** 2).sum(-1))[..., None, None] * self.rng.normal(0.0, 1.0 / k, w.shape)
        w *= np.sqrt(2.0 / (in_ch * k * k)) / (w.std() + 1e-12)
        return w.astype(np.float32)

    def conv(self, x: ov.Node, out_ch: int, k: int, stride: int, relu: bool, gain: float = 1.0) -> ov.Node:
        """Conv with smooth demo weights and a folded-BN per-channel scale/bias set from calibration data.

        ``gain`` is the target standard deviation of the (pre-ReLU) output; residual branches use a gain well
        below 1 (SkipInit/Fixup style) so depth does not amplify small input differences.
        """
        in_ch = _channels(x)
        w = self._weights(out_ch, in_ch, k)
        pad = k // 2
        y = ops.convolution(x, ops.constant(w), [stride, stride], [pad, pad], [pad, pad], [1, 1])
        # Folded batch norm: y_bn = gain * (y - mean) / std + beta, with a small random beta.
        stats = self._run(y)
        mean = stats.mean(axis=(0, 2, 3))
        std = stats.std(axis=(0, 2, 3))
        # A channel whose spread is tiny next to the others' would be blown up by the normalisation (noise in,
        # badly conditioned 8-bit ranges out): floor the spread at a fraction of the layer's median.
        std = np.maximum(std, STD_FLOOR * float(np.median(std))) + 1e-5
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


# Head calibration targets: logits on the calibration set have this mean and spread, so realistic radiographs land
# around 228 * sigmoid(0 +- 0.6) = 80..147 months (1 SD), 52..174 months (2 SD), far from the sigmoid's flat ends.
LOGIT_TARGET_MEAN = 0.0
LOGIT_TARGET_STD = 0.6
# Logit difference male - female: ~0.1 logit = ~5.7 months at mid-range (same image: a boy's bone age reads older,
# girls mature earlier). Applied symmetrically (+-0.05) around the calibrated mean.
SEX_LOGIT_SHIFT = 0.1
HEAD_CALIBRATION_RADIOGRAPHS = 24
# Principal components of the pooled features the head sees.
HEAD_COMPONENTS = 4


def _head_calibration_images(seed: int, blob_images: np.ndarray) -> np.ndarray:
    """Deterministic head calibration set: synthetic hand radiographs plus the backbone's blob images."""
    radiographs = synthetic_radiographs(np.random.default_rng(seed + 2), HEAD_CALIBRATION_RADIOGRAPHS)
    return np.concatenate([radiographs, blob_images])


def _attention_map(features, cam_weights: np.ndarray):
    """``attention_map`` [1, 1, 16, 16]: the CAM-weighted sum of the last stage's channels, min-max scaled to
    [0, 1] per image (all zero for a constant map).

    A MatMul over the channels: NNCF leaves MatMuls in floating point here, so no quantizer is inserted on the
    features the pooled head also reads (the INT8 ``bone_age_months`` moves by < 0.01 month with this branch).
    """
    n = len(cam_weights)
    flat = ops.reshape(features, ops.constant(np.array([0, n, ATTENTION_SIZE * ATTENTION_SIZE], np.int64)), True)
    cam = ops.matmul(ops.constant(cam_weights.reshape(1, 1, n)), flat, False, False)  # [N, 1, 256]
    cam = ops.reshape(cam, ops.constant(np.array([0, 1, ATTENTION_SIZE, ATTENTION_SIZE], np.int64)), True)
    axes = ops.constant(np.array([2, 3], np.int64))
    low = ops.reduce_min(cam, axes, keep_dims=True)
    span = ops.subtract(ops.reduce_max(cam, axes, keep_dims=True), low)
    return ops.divide(ops.subtract(cam, low), ops.add(span, ops.constant(np.array(1e-6, np.float32))))


def make_bone_age_model(variant: str = "full", seed: int = 20240611) -> ov.Model:
    """Build the bone-age ``ov.Model`` for ``variant`` ("full" or "small") from seeded demo weights.

    Returns a model with inputs ``image`` [1,1,512,512] f32 and ``sex`` [1,1] f32 (1.0 male, 0.0 female) and
    outputs ``bone_age_months`` [1,1] f32 in 0..228 and ``attention_map`` [1,1,16,16] f32 in [0, 1] (class
    activation map of the last stage). Raises KeyError for an unknown variant.
    """
    return make_bone_age_model_calibrated(variant, seed)[0]


def make_bone_age_model_calibrated(variant: str = "full", seed: int = 20240611) -> tuple[ov.Model, dict]:
    """As ``make_bone_age_model``, also returning the head calibration record for the model card.

    The record: ``method``, ``n_images`` (calibration images), ``logit_mean`` / ``logit_std`` (the calibrated
    pre-sigmoid logit over those images, sex-averaged: ~0 and ~0.6 by construction), ``months_range`` (min/max
    output over the calibration images and both sexes) and ``sex_logit_shift``.
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
            x = b.basic_block(x, ch, stride, branch_gain=BRANCH_GAIN)
    pooled = ops.reduce_mean(x, ops.constant(np.array([2, 3], np.int64)), keep_dims=False)

    # Head calibration in NumPy on pooled features of a larger, radiograph-like set (the backbone's blob images
    # alone are far brighter than a letterboxed hand radiograph, and a head fitted to them saturates on real ones).
    head_images = _head_calibration_images(seed, calib)
    feats = b.run_batched(pooled, head_images).astype(np.float64)
    # Project the pooled features onto their top principal components over the calibration images: directions of
    # large image-to-image variation (large-scale structure), where a perturbation of the input (noise, bf16, INT8)
    # is small next to the signal. Standardising every feature instead would amplify the near-constant,
    # noise-dominated ones. All components are divided by the first one's spread, so they keep their relative
    # weight (a weak component is not amplified either).
    f_mean = feats.mean(axis=0)
    _, sing, vt = np.linalg.svd(feats - f_mean, full_matrices=False)
    n_comp = min(HEAD_COMPONENTS, len(sing))
    projection = vt[:n_comp].T / (sing[0] / np.sqrt(len(feats)) + 1e-12)  # [n_feat, n_comp]
    n_feat = feats.shape[1]
    hidden = spec.head_hidden
    w1 = rng.normal(0.0, np.sqrt(2.0 / n_comp), (n_comp + 1, hidden))
    b1 = rng.normal(0.0, 0.05, hidden)
    w2 = rng.normal(0.0, np.sqrt(2.0 / hidden), (hidden, 1))
    # The last hidden unit carries sex through unchanged (relu(sex) = sex for 0/1); the others see only the image.
    w1[n_comp, :] = 0.0
    w1[:, hidden - 1] = 0.0
    w1[n_comp, hidden - 1] = 1.0
    b1[hidden - 1] = 0.0
    w1_folded = np.zeros((n_feat + 1, hidden))
    w1_folded[:n_feat] = projection @ w1[:n_comp]
    w1_folded[n_feat] = w1[n_comp]
    b1_folded = b1 - (f_mean @ projection) @ w1[:n_comp]
    w2[hidden - 1] = 0.0
    h_img = np.maximum(np.concatenate([feats, np.zeros((len(feats), 1))], 1) @ w1_folded + b1_folded, 0.0)
    raw = (h_img @ w2)[:, 0]
    # Scale and shift the final layer so the calibration logits have the target mean and spread.
    scale = LOGIT_TARGET_STD / (raw.std() + 1e-12)
    w2 = w2 * scale
    w2[hidden - 1] = SEX_LOGIT_SHIFT
    b2 = LOGIT_TARGET_MEAN - float(raw.mean() * scale) - 0.5 * SEX_LOGIT_SHIFT
    w1_f32, b1_f32 = w1_folded.astype(np.float32), b1_folded.astype(np.float32)
    w2_f32, b2_f32 = w2.astype(np.float32), np.array([b2], np.float32)

    # The calibration record, computed with the float32 weights that go into the graph.
    logits = {}
    for sex_value in (0.0, 1.0):
        h_in = np.concatenate([feats, np.full((len(feats), 1), sex_value)], 1).astype(np.float32)
        logits[sex_value] = (np.maximum(h_in @ w1_f32 + b1_f32, 0.0) @ w2_f32 + b2_f32)[:, 0].astype(np.float64)
    both = np.concatenate([logits[0.0], logits[1.0]])
    months = MAX_MONTHS / (1.0 + np.exp(-both))
    sex_averaged = (logits[0.0] + logits[1.0]) / 2
    calibration = {
        "method": f"data-dependent head init: pooled features projected onto their top {n_comp} principal "
        "components over the calibration images (scaled by the first one's spread), final layer scaled and shifted "
        "so pre-sigmoid logits on the calibration images have the target mean/std",
        "images": f"{HEAD_CALIBRATION_RADIOGRAPHS} synthetic letterboxed hand radiographs + {len(calib)} synthetic "
        "blob images (seeded)",
        "n_images": int(len(head_images)),
        "target_logit_mean": LOGIT_TARGET_MEAN,
        "target_logit_std": LOGIT_TARGET_STD,
        "logit_mean": round(float(sex_averaged.mean()), 6),
        "logit_std": round(float(sex_averaged.std()), 6),
        "months_range": [round(float(months.min()), 2), round(float(months.max()), 2)],
        "sex_logit_shift": SEX_LOGIT_SHIFT,
    }

    # Class-activation map of the last stage: each channel weighted by how strongly the logit depends on its pooled
    # value, |d logit / d pooled feature| at the calibration images' mean features (sex averaged; through the
    # ReLU units active there). Absolute values: the map shows where the relevant features are strong, whichever
    # way they push the age. Uses no RNG draw, so every other weight is unchanged.
    h_mean = np.concatenate([feats.mean(axis=0), [0.5]]).astype(np.float32) @ w1_f32 + b1_f32
    cam_weights = np.abs(w1_f32[:n_feat] @ ((h_mean > 0) * w2_f32[:, 0])).astype(np.float32)  # [n_feat]
    sex = ops.parameter([calib.shape[0], 1], np.float32, name=INPUT_SEX)
    h = ops.concat([pooled, sex], axis=1)
    h = ops.relu(ops.add(ops.matmul(h, ops.constant(w1_f32), False, False), ops.constant(b1_f32)))
    logit = ops.add(ops.matmul(h, ops.constant(w2_f32), False, False), ops.constant(b2_f32))
    months_node = ops.multiply(ops.sigmoid(logit), ops.constant(np.array(MAX_MONTHS, np.float32)))
    result = ops.result(months_node, name=OUTPUT_NAME)
    attention = _attention_map(x, cam_weights)
    model = ov.Model([result, ops.result(attention, name=ATTENTION_NAME)], [b.param, sex], f"bone_age_{variant}")

    model.reshape({INPUT_IMAGE: [1, 1, IMAGE_SIZE, IMAGE_SIZE], INPUT_SEX: [1, 1]})
    model.inputs[0].get_tensor().set_names({INPUT_IMAGE})
    model.inputs[1].get_tensor().set_names({INPUT_SEX})
    model.outputs[0].get_tensor().set_names({OUTPUT_NAME})
    model.outputs[1].get_tensor().set_names({ATTENTION_NAME})
    months_node.set_friendly_name(OUTPUT_NAME + "/sink_port_0")
    return model, calibration
