"""Mammography lesion detection: ResNet-18 + FPN backbone with a CenterNet-style head at stride 8.

Input ``image`` [1, 1, 1024, 832] (height x width; one mammogram, chest wall on the left, scaled per image by its
1st and 99th percentiles to [0, 1]). Outputs ``heatmap`` [1, 1, 128, 104] (lesion-centre probability per 8x8
cell, sigmoid) and ``box_size`` [1, 2, 128, 104] (lesion height and width in input pixels, read at the peak).
Backbone: ResNet-18 (7x7/2 stem, 3x3/2 max-pool, four stages of basic blocks, widths 64/128/256/512); FPN
(Lin et al. 2017: 1x1 laterals on C3-C5, nearest top-down merge, 5x5 output convolutions), the three levels
fused at stride 8 (as Panoptic FPN's semantic branch); CenterNet head (Zhou et al. 2019): 3x3 conv + 1x1 conv
per output. ``small``: widths 8/16/16/32, one block per stage, FPN 16.

Demo weights (``builders/common.py``): two signal channels, "dense" (smoothed intensity above 0.8) and
"darkness" (1 - smoothed intensity), are carried down the backbone (averaged at every down-sampling), and each
FPN output convolution is a centre-surround detector on them at its own scale (a dense centre cell clearly
brighter than the ring two cells out: strides 8, 16 and 32 cover lesion radii of ~4-14, 8-28 and 16-56 px).
The heatmap fires on **compact dense blobs** of any of those sizes; ``box_size`` follows the levels that fired.
Large dense regions (fibroglandular tissue) and edges do not, though the top of a small bright patch of
glandular tissue can. Zero padding beyond the image border reads as bright (darkness 0), so dense tissue along
the chest-wall edge is not taken for a blob (and a lesion touching the border is missed). Not trained: demo, not
for diagnostic use.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from model_repository.builders import phantoms
from model_repository.builders.common import Net, Rows, T, basic_block, binomial, delta, finish, head_conv

NAME = "mammography_detection"
INPUT = "image"
OUTPUTS = ("heatmap", "box_size")
HEIGHT, WIDTH = 1024, 832
STRIDE = 8
# "Dense" (a lesion centre) on the scaled image.
DENSE_THRESHOLD = 0.8


@dataclass(frozen=True)
class Variant:
    name: str
    stem: int
    stages: tuple[int, ...]
    blocks: int
    fpn: int
    head: int


VARIANTS = {"full": Variant("full", 64, (64, 128, 256, 512), 2, 128, 64),
            "small": Variant("small", 8, (8, 16, 16, 32), 1, 16, 8)}


def variant_params(variant: str) -> dict:
    """Hyper-parameters of ``variant`` as a JSON-serialisable dict."""
    d = asdict(VARIANTS[variant])
    d["stages"] = list(d["stages"])
    return d


def _blob(rows: Rows, out: int, dense: int, darkness: int) -> Rows:
    """Centre-surround: 4 * (mean darkness of the 5x5 border ring - centre darkness) + 2 * dense centre - 2.8.

    With darkness = 1 - intensity that is 4 * (centre - ring mean) intensity + 2 * dense centre - 2.8: it fires
    where the centre cell is dense and clearly brighter than its surroundings two cells out, a compact dense blob;
    not on the top of a broad bright region, nor on edges (half the ring is as bright). Darkness rather than
    intensity so the convolution's zero padding beyond the image border reads as bright tissue, not as a dark
    surround (dense tissue along the chest-wall edge would otherwise look like a blob).
    """
    ring = np.zeros((5, 5))
    ring[0, :] = ring[-1, :] = ring[:, 0] = ring[:, -1] = 4.0 / 16
    rows.add(out, darkness, ring - 4.0 * delta(5)).add(out, dense, 2.0 * delta(5))
    return rows.set_bias(out, -2.8)


def make_model(variant: str = "full", seed: int = 20240611) -> ov.Model:
    """Build the mammography detector for ``variant`` with seeded demo weights (batch 1)."""
    spec = VARIANTS[variant]
    net = Net(np.random.default_rng(seed + 19))
    param = ops.parameter([1, 1, HEIGHT, WIDTH], np.float32, name=INPUT)
    x = T(param.output(0), 1, 1)
    # Stem: s0 dense = clamp(8 * (smoothed intensity - threshold)), s1 darkness = 1 - smoothed intensity.
    stem = Rows(2).add(0, 0, 8 * binomial(7)).set_bias(0, -8 * DENSE_THRESHOLD).add(1, 0, -binomial(7))
    stem.set_bias(1, 1.0)
    h = net.conv(x, spec.stem, 7, stem, stride=2)
    h = net.max_pool(h, k=3, stride=2, pad=1)
    features = []
    for stage, width in enumerate(spec.stages):
        for block in range(spec.blocks):
            h = basic_block(net, h, width, 2 if (stage > 0 and block == 0) else 1, n_signal=2)
        features.append(h)
    c3, c4, c5 = features[1:]
    # FPN laterals: each level's two signals (dense, darkness) go to their own channels (P3: s0-1, P4: s2-3, P5: s4-5).
    one = np.ones((1, 1))

    def lateral(c: T, level: int) -> T:
        return net.conv(c, spec.fpn, 1, Rows(6).add(2 * level, 0, one).add(2 * level + 1, 1, one))

    p5 = lateral(c5, 2)
    p4 = net.add(lateral(c4, 1), net.upsample_nearest(p5, 2))
    p3 = net.add(lateral(c3, 0), net.upsample_nearest(p4, 2))
    # FPN output convolutions: the centre-surround blob detector of each level, on its own channel (s0-2).
    o5 = net.conv(p5, spec.fpn, 5, _blob(Rows(3), 2, 4, 5))
    o4 = net.conv(p4, spec.fpn, 5, _blob(Rows(3), 1, 2, 3))
    o3 = net.conv(p3, spec.fpn, 5, _blob(Rows(3), 0, 0, 1))
    fused = net.add(net.add(o3, net.upsample_nearest(o4, 2)), net.upsample_nearest(o5, 4))
    # Heatmap branch: s0 = any level fired.
    h = net.conv(fused, spec.head, 3, Rows(1).add(0, 0, delta(3)).add(0, 1, delta(3)).add(0, 2, delta(3)))
    weights = np.zeros((1, h.channels))
    weights[0, 0] = 8.0
    heat = ops.sigmoid(head_conv(h.node, weights, np.array([-4.0])))
    # Size branch: s0..s2 the levels, s3 "only the coarsest level" (the largest lesions).
    rows = Rows(4).add(0, 0, delta(3)).add(1, 1, delta(3)).add(2, 2, delta(3))
    rows.add(3, 2, delta(3)).add(3, 1, -delta(3))
    s = net.conv(fused, spec.head, 3, rows)
    weights = np.zeros((2, s.channels))
    weights[:, 1], weights[:, 2], weights[:, 3] = 16.0, 48.0, 36.0
    size = head_conv(s.node, weights, np.array([12.0, 12.0]))
    model = ov.Model([ops.result(heat), ops.result(size)], [param], f"{NAME}_{variant}")
    return finish(model, [INPUT], list(OUTPUTS))


def synthetic_inputs(rng: np.random.Generator, count: int) -> list[dict[str, np.ndarray]]:
    """``count`` single-image requests of synthetic mammograms (``phantoms.mammogram``)."""
    return [{INPUT: phantoms.mammogram(rng, n_lesions=int(i % 3 != 2) + int(i % 3 == 1))[0][None, None]}
            for i in range(count)]


def gate_metrics(reference: list[dict], candidate: list[dict]) -> dict:
    """INT8 gate: heatmap peak agreement (lesion peaks >= 0.5 matched within one cell, both directions)."""
    from model_repository.gates import peak_agreement

    ref = np.concatenate([r["heatmap"][:, 0] for r in reference])
    cand = np.concatenate([c["heatmap"][:, 0] for c in candidate])
    metrics = peak_agreement(ref, cand, threshold=GATE_MIN_AGREEMENT)
    ref_size = np.concatenate([r["box_size"] for r in reference])
    cand_size = np.concatenate([c["box_size"] for c in candidate])
    on_lesions = np.repeat((ref >= 0.5)[:, None], 2, axis=1)
    diff = np.abs(cand_size - ref_size)[on_lesions]
    metrics["max_abs_box_size_diff_px"] = round(float(diff.max()), 2) if diff.size else 0.0
    return metrics


GATE_MIN_AGREEMENT = 0.9
CARD = {
    "task": "mammography lesion detection (mammography)",
    "modality": "MG (or PNG/JPEG), one view",
    "architecture": "ResNet-18 backbone + FPN (C3-C5, 5x5 output convs) fused at stride 8 + CenterNet-style "
                    "heads (heatmap with sigmoid, box size)",
    "inputs": [{"name": INPUT, "shape": [1, 1, HEIGHT, WIDTH], "dtype": "float32", "layout": "NCHW",
                "preprocessing": {
                    "orientation": "flipped horizontally if needed so the chest wall is on the image left "
                                   "(right breasts: laterality R, or breast mass on the right half)",
                    "photometric_interpretation": "MONOCHROME2 (MONOCHROME1 inverted first): dense tissue bright",
                    "resize": "aspect-preserving resize into 1024 (rows) x 832 (columns), padded with 0 on the "
                              "right and bottom; record the scale to map boxes back to source pixels",
                    "scaling": "per image: 1st percentile -> 0, 99th percentile -> 1, clipped to [0, 1] float32"}}],
    "outputs": [{"name": "heatmap", "shape": [1, 1, HEIGHT // STRIDE, WIDTH // STRIDE], "dtype": "float32",
                 "meaning": "lesion-centre probability per 8x8-pixel cell; a lesion shows as a plateau of cells: "
                            "take connected components >= 0.5 (or 3x3 max-pool NMS) and their peak"},
                {"name": "box_size", "shape": [1, 2, HEIGHT // STRIDE, WIDTH // STRIDE], "dtype": "float32",
                 "meaning": "lesion (height, width) in input pixels, read at the peak cell; the box is centred on "
                            "the cell centre (8j + 4, 8i + 4)"}],
    "gate_metric": "heatmap detection agreement (lesions >= 0.5 matched by >= 0.3 within 1 cell, both ways) "
                   f">= {GATE_MIN_AGREEMENT}",
    "weights": "hand-set demo weights (signal channels: dense window, averaged down-sampling, per-level "
               "centre-surround blob detectors in the FPN output convolutions) plus seeded random filler "
               "channels; not trained",
}
