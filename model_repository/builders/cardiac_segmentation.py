"""Cardiac chamber segmentation: a 2-D U-Net on cine short-axis MR frames (the cardiac_function assessment).

Input ``image`` [-1, 1, 192, 192] (one frame of one slice location, scaled per image by its 1st and 99th
percentiles to [0, 1]); output ``mask_logits`` [-1, 4, 192, 192] over 0 background, 1 LV blood pool, 2 LV
myocardium, 3 RV blood pool (arg-max per pixel). nnU-Net-style 2-D U-Net (Isensee et al. 2021): six levels
(strides 1-32), each two 3x3 convolutions (the first strided from level 1 on: no max-pool), decoder with 2x
transposed-convolution up-sampling, skip concatenation and two 3x3 convolutions, a 1x1 head. ``full``: widths
32/64/128/256/480/480 (the nnU-Net 2-D ACDC configuration); ``small``: 8/8/8/16/16/16.

Demo weights (``builders/common.py``): signal channels find **the bright blood pool and call its thick, round
part the LV**: "bright" (> 0.55) is eroded by ~5 px (the thin RV crescent vanishes, the LV pool keeps a core),
the core is dilated back by ~12 px in the decoder (covering the pool and a ring around it), then LV = bright
inside that region, myocardium = not bright but tissue inside it (**a ring of myocardium around the pool**),
RV = bright outside it but near the heart (a wider dilation). Not trained: demo, not for diagnostic use.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from model_repository.builders import phantoms
from model_repository.builders.common import Net, Rows, T, bilinear_up, delta, finish, head_conv

NAME = "cardiac_segmentation"
INPUT = "image"
OUTPUT = "mask_logits"
SIZE = 192
CLASSES = ("background", "lv_blood_pool", "lv_myocardium", "rv_blood_pool")

ONES = np.ones((3, 3))


@dataclass(frozen=True)
class Variant:
    name: str
    widths: tuple[int, ...]


VARIANTS = {"full": Variant("full", (32, 64, 128, 256, 480, 480)), "small": Variant("small", (8, 8, 8, 16, 16, 16))}


def variant_params(variant: str) -> dict:
    """Hyper-parameters of ``variant`` as a JSON-serialisable dict."""
    d = asdict(VARIANTS[variant])
    d["widths"] = list(d["widths"])
    return d


def _erode(src: int, rows: Rows, out: int = 0) -> Rows:
    # Soft erosion: mean of the 3x3 neighbourhood >= 0.75 -> stays (4 * mean - 3, clamped).
    return rows.add(out, src, ONES * 4.0 / 9.0).set_bias(out, -3.0)


def make_model(variant: str = "full", seed: int = 20240611) -> ov.Model:
    """Build the cardiac U-Net for ``variant`` with seeded demo weights (dynamic batch)."""
    w = VARIANTS[variant].widths
    net = Net(np.random.default_rng(seed + 17))
    param = ops.parameter([-1, 1, SIZE, SIZE], np.float32, name=INPUT)
    x = T(param.output(0), 1, 1)
    # Level 0 (stride 1): s0 bright (blood, fat), s1 tissue (not air / lung).
    rows = Rows(2).add(0, 0, 8 * delta(3)).set_bias(0, -4.4).add(1, 0, 10 * delta(3)).set_bias(1, -1.0)
    h = net.conv(x, w[0], 3, rows)
    # s2: bright again (the start of the LV core; s0 goes to the decoder unchanged).
    enc0 = net.conv(h, w[0], 3, Rows(3).add(0, 0, delta(3)).add(1, 1, delta(3)).add(2, 0, delta(3)))
    # Level 1 (stride 2): eroded by 1 px (full-resolution taps), then by one cell (2 px).
    h = net.conv(enc0, w[1], 3, _erode(2, Rows(1)), stride=2)
    enc1 = net.conv(h, w[1], 3, _erode(0, Rows(1)))
    # Level 2 (stride 4): eroded by 2 px more: ~5 px in all (the soft erosion bites a little more than its taps).
    # s0 = the LV core: the RV crescent (5-8 px thick) is gone, an LV pool of radius >= 10 px keeps a core.
    h = net.conv(enc1, w[2], 3, _erode(0, Rows(1)), stride=2)
    enc2 = net.conv(h, w[2], 3, Rows(1).add(0, 0, delta(3)))
    # Levels 3-4 (strides 8, 16): the core dilated widely (OR over 3x3, clamped): "near the heart".
    h = net.conv(enc2, w[3], 3, Rows(1).add(0, 0, ONES), stride=2)
    enc3 = net.conv(h, w[3], 3, Rows(1).add(0, 0, ONES))
    h = net.conv(enc3, w[4], 3, Rows(1).add(0, 0, ONES), stride=2)
    enc4 = net.conv(h, w[4], 3, Rows(1).add(0, 0, delta(3)))
    # Level 5 (stride 32): context, filler only.
    h = net.conv(enc4, w[5], 3, stride=2)
    h = net.conv(h, w[5], 3)
    # Decoder, stride 16: s0 near-heart from the skip.
    up = net.up(h, w[4])
    cat, (_, o) = net.concat([up, enc4])
    h = net.conv(cat, w[4], 3, Rows(1).add(0, o, delta(3)))
    h = net.conv(h, w[4], 3, Rows(1).add(0, 0, delta(3)))
    # Stride 8: s0 near-heart.
    up = net.up(h, w[3], Rows(1).add(0, 0, bilinear_up()))
    cat, (o_up, _) = net.concat([up, enc3])
    h = net.conv(cat, w[3], 3, Rows(1).add(0, o_up, delta(3)))
    h = net.conv(h, w[3], 3, Rows(1).add(0, 0, delta(3)))
    # Stride 4: s0 LV region = the core dilated by 4 px, then 8 px (OR over 3x3 cells); s1 near-heart.
    up = net.up(h, w[2], Rows(2).add(1, 0, bilinear_up()))
    cat, (o_up, o_skip) = net.concat([up, enc2])
    h = net.conv(cat, w[2], 3, Rows(2).add(0, o_skip, ONES).add(1, o_up + 1, delta(3)))
    h = net.conv(h, w[2], 3, Rows(2).add(0, 0, ONES).add(1, 1, delta(3)))
    # Stride 2: dilated by 2 px twice more (12 px).
    up = net.up(h, w[1], Rows(2).add(0, 0, bilinear_up()).add(1, 1, bilinear_up()))
    cat, (o_up, _) = net.concat([up, enc1])
    h = net.conv(cat, w[1], 3, Rows(2).add(0, o_up, ONES).add(1, o_up + 1, delta(3)))
    h = net.conv(h, w[1], 3, Rows(2).add(0, 0, ONES).add(1, 1, delta(3)))
    # Stride 1: s0 LV region (sharpened: ~1-2 px more), s1 near-heart, s2 bright, s3 tissue.
    up = net.up(h, w[0], Rows(2).add(0, 0, bilinear_up()).add(1, 1, bilinear_up()))
    cat, (o_up, o_skip) = net.concat([up, enc0])
    rows = Rows(4).add(0, o_up, delta(3)).add(1, o_up + 1, 2 * delta(3))
    rows.add(2, o_skip, delta(3)).add(3, o_skip + 1, delta(3))
    h = net.conv(cat, w[0], 3, rows)
    # s0 LV = region AND bright; s1 myocardium = region AND tissue AND not bright; s2 RV = bright AND near AND
    # not region.
    rows = Rows(3).add(0, 0, delta(3)).add(0, 2, delta(3)).set_bias(0, -1.0)
    rows.add(1, 0, delta(3)).add(1, 3, delta(3)).add(1, 2, -delta(3)).set_bias(1, -1.0)
    rows.add(2, 2, delta(3)).add(2, 1, delta(3)).add(2, 0, -2 * delta(3)).set_bias(2, -1.0)
    h = net.conv(h, w[0], 3, rows)
    weights = np.zeros((4, h.channels))
    weights[1, 0] = weights[2, 1] = weights[3, 2] = 6.0
    logits = head_conv(h.node, weights, np.array([3.0, 0.0, 0.0, 0.0]))
    model = ov.Model([ops.result(logits)], [param], f"{NAME}_{variant}")
    return finish(model, [INPUT], [OUTPUT])


def synthetic_inputs(rng: np.random.Generator, count: int) -> list[dict[str, np.ndarray]]:
    """``count`` single-frame requests of synthetic short-axis cine frames (``phantoms.cardiac_mr``)."""
    return [{INPUT: phantoms.cardiac_mr(rng)[0][None, None]} for _ in range(count)]


def gate_metrics(reference: list[dict], candidate: list[dict]) -> dict:
    """INT8 gate: mean foreground-class Dice between the FP32 and INT8 label maps (arg-max)."""
    from model_repository.gates import multiclass_dice

    ref = np.concatenate([np.argmax(r[OUTPUT], axis=1) for r in reference])
    cand = np.concatenate([np.argmax(c[OUTPUT], axis=1) for c in candidate])
    return multiclass_dice(ref, cand, {1: CLASSES[1], 2: CLASSES[2], 3: CLASSES[3]}, threshold=GATE_MIN_DICE,
                           n=len(reference))


GATE_MIN_DICE = 0.95
CARD = {
    "task": "cardiac chamber segmentation of cine short-axis MR frames (cardiac_function)",
    "modality": "MR, cine SSFP short-axis series (slice locations x phases)",
    "architecture": "nnU-Net-style 2-D U-Net: 6 levels of 2x (3x3 conv + folded BN bias + ReLU1), strided-conv "
                    "down-sampling, transposed-conv up-sampling + skip concatenation, 1x1 head over 4 classes",
    "inputs": [{"name": INPUT, "shape": [-1, 1, SIZE, SIZE], "dtype": "float32", "layout": "NCHW",
                "preprocessing": {
                    "frames": "every frame (slice location x phase) of the series, each resampled to 192x192 "
                              "(whole field of view, pixel spacing recorded for the volumes)",
                    "scaling": "per image: 1st percentile -> 0, 99th percentile -> 1, clipped to [0, 1] "
                               "float32"}}],
    "outputs": [{"name": OUTPUT, "shape": [-1, 4, SIZE, SIZE], "dtype": "float32",
                 "meaning": "per-pixel class logits; arg-max over 0 background, 1 LV blood pool, "
                            "2 LV myocardium, 3 RV blood pool"}],
    "gate_metric": f"mean Dice of classes 1-3 between FP32 and INT8 label maps >= {GATE_MIN_DICE}",
    "weights": "hand-set demo weights (signal channels: bright/tissue windows, erosion to the LV core, dilation "
               "back to an LV region, class logic) plus seeded random filler channels; not trained",
}
