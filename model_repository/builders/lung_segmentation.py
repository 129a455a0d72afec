"""Lung segmentation: a 2-D U-Net on axial CT slices (stage 1 of the lung-nodule assessment).

Input ``slices`` [-1, 1, 256, 256] (CT, HU clipped to [-1000, 1000] and mapped to [-1, 1]); output
``lung_logits`` [-1, 1, 256, 256] (sigmoid > 0.5: lung). U-Net layout (Ronneberger et al. 2015, with padded
convolutions and transposed-convolution up-sampling): four encoder levels of two 3x3 convolutions and a 2x2
max-pool, a bottleneck, four decoder levels (2x up-convolution, concatenation with the skip, two 3x3
convolutions), a 1x1 head. ``full``: widths 32/64/128/256/512 (~7.8 M parameters); ``small``: 8/8/16/16/16.

Demo weights (see ``builders/common.py``): hand-set signal channels mark **air-density regions inside the body**:
lung band = denser than outside air (-930 HU) but lighter than soft tissue (-450 HU); outside air is carried down
the encoder with max-pooling (a dilation), dilated once more at stride 4, and brought back up the decoder, so the
partial-volume rim at the skin and the air around the patient are excluded. Filler channels are seeded random.
Not trained: demo, not for diagnostic use.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from model_repository.builders import phantoms
from model_repository.builders.common import Net, Rows, T, bilinear_up, delta, finish, head_conv

NAME = "lung_segmentation"
INPUT = "slices"
OUTPUT = "lung_logits"
SIZE = 256


@dataclass(frozen=True)
class Variant:
    name: str
    widths: tuple[int, ...]


VARIANTS = {"full": Variant("full", (32, 64, 128, 256, 512)), "small": Variant("small", (8, 8, 16, 16, 16))}


def variant_params(variant: str) -> dict:
    """Hyper-parameters of ``variant`` as a JSON-serialisable dict."""
    d = asdict(VARIANTS[variant])
    d["widths"] = list(d["widths"])
    return d


def make_model(variant: str = "full", seed: int = 20240611) -> ov.Model:
    """Build the lung-segmentation U-Net for ``variant`` with seeded demo weights (dynamic batch)."""
    widths = VARIANTS[variant].widths
    net = Net(np.random.default_rng(seed))
    param = ops.parameter([-1, 1, SIZE, SIZE], np.float32, name=INPUT)
    x = T(param.output(0), 1, 1)
    # Level 0: s0 outside air (< -930 HU), s1 "denser than outside air", s2 "denser than lung" (> -450 HU).
    rows = Rows(3).add(0, 0, -25 * delta(3)).set_bias(0, -23.25)
    rows.add(1, 0, 25 * delta(3)).set_bias(1, 23.25).add(2, 0, 25 * delta(3)).set_bias(2, 11.25)
    h = net.conv(x, widths[0], 3, rows)
    # s0 outside, s1 lung band (air density but not outside air) = s1 - s2.
    rows = Rows(2).add(0, 0, delta(3)).add(1, 1, delta(3)).add(1, 2, -delta(3))
    skips = [net.conv(h, widths[0], 3, rows)]
    for level in range(1, len(widths)):
        h = net.max_pool(skips[-1])
        carry = level <= 2  # outside air is needed down to stride 4
        # At stride 4 the outside-air indicator is dilated by one more cell (OR over 3x3: sum, clamped).
        kernel = np.ones((3, 3)) if level == 2 else delta(3)
        h = net.conv(h, widths[level], 3, Rows(1).add(0, 0, kernel) if carry else None)
        h = net.conv(h, widths[level], 3, Rows(1).add(0, 0, delta(3)) if carry else None)
        skips.append(h)
    x = skips.pop()  # bottleneck
    for level in range(len(widths) - 2, -1, -1):
        skip = skips[level]
        carry = level <= 1  # stride 2 and full resolution carry outside air up from the stride-4 skip
        up = net.up(x, widths[level], Rows(1).add(0, 0, bilinear_up()) if (carry and x.signal) else None)
        cat, (o_up, o_skip) = net.concat([up, skip])
        if level == 2:
            rows = Rows(1).add(0, o_skip, delta(3))
        elif level == 1:
            rows = Rows(1).add(0, o_up, delta(3))
        elif level == 0:
            rows = Rows(2).add(0, o_up, delta(3)).add(1, o_skip + 1, delta(3))
        else:
            rows = None
        h = net.conv(cat, widths[level], 3, rows)
        if level == 0:
            # Lung = lung band and not near outside air.
            rows = Rows(1).add(0, 1, delta(3)).add(0, 0, -2 * delta(3))
        elif rows is not None:
            rows = Rows(1).add(0, 0, delta(3))
        x = net.conv(h, widths[level], 3, rows)
    w = np.zeros((1, x.channels))
    w[0, 0] = 12.0
    logits = head_conv(x.node, w, np.array([-6.0]))
    model = ov.Model([ops.result(logits)], [param], f"{NAME}_{variant}")
    return finish(model, [INPUT], [OUTPUT])


def synthetic_inputs(rng: np.random.Generator, count: int) -> list[dict[str, np.ndarray]]:
    """``count`` single-slice requests from synthetic chest CTs (plus one abdomen slice in five)."""
    items = []
    while len(items) < count:
        if len(items) % 5 == 4:
            image = phantoms.ct_slices(rng, 4)[0][3:4]  # abdomen: no lung
        else:
            ct = phantoms.chest_ct(rng, slices=5, n_nodules=1, n_vessels=3)
            image = ct.volume[2][None, None]
        items.append({INPUT: np.ascontiguousarray(image, np.float32)})
    return items


def gate_metrics(reference: list[dict], candidate: list[dict]) -> dict:
    """INT8 gate: Dice between the FP32 and INT8 lung masks (logit > 0), pooled over the held-out slices."""
    from model_repository.gates import mask_dice

    ref = np.concatenate([r[OUTPUT] for r in reference]) > 0
    cand = np.concatenate([c[OUTPUT] for c in candidate]) > 0
    return mask_dice(ref, cand, threshold=GATE_MIN_DICE, n=len(reference))


GATE_MIN_DICE = 0.97
CARD = {
    "task": "lung segmentation on axial CT slices (stage 1 of lung_nodule)",
    "modality": "CT, axial slices of a chest series",
    "architecture": "2-D U-Net: 4 levels of 2x(3x3 conv + folded BN bias + ReLU1) and 2x2 max-pool, bottleneck, "
                    "4 levels of 2x transposed-conv up-sampling + skip concatenation + 2x(3x3 conv), 1x1 head",
    "inputs": [{"name": INPUT, "shape": [-1, 1, SIZE, SIZE], "dtype": "float32", "layout": "NCHW",
                "preprocessing": {
                    "slices": "axial slices of one series, each resampled to 256x256 (whole field of view)",
                    "scaling": "Hounsfield units (rescale slope/intercept applied) clipped to [-1000, 1000] and "
                               "divided by 1000: [-1, 1] float32"}}],
    "outputs": [{"name": OUTPUT, "shape": [-1, 1, SIZE, SIZE], "dtype": "float32",
                 "meaning": "lung logit per pixel; sigmoid > 0.5 (logit > 0) is lung"}],
    "gate_metric": f"Dice between FP32 and INT8 lung masks (logit > 0) over the held-out slices >= {GATE_MIN_DICE}",
    "weights": "hand-set demo weights (signal channels: lung-band window, outside-air dilation) plus seeded "
               "random filler channels; not trained",
}
