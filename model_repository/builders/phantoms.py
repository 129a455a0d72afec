"""Seeded synthetic phantoms for the catalogue models: INT8 calibration, accuracy-gate held-out sets and tests.

Each generator returns images already scaled as the catalogue contract says (``docs/catalogue.md``): CT in
Hounsfield units clipped to [-1000, 1000] and mapped to [-1, 1] (``common.scale_ct``), MR and mammography scaled
per image by the 1st and 99th percentiles to [0, 1] (``common.scale_percentile``), plus the ground truth the
phantom was drawn from (nodule centres, masks, lesion boxes), so tests can check that outputs follow content.
They are cartoons of anatomy (ellipses, spheres, tubes, noise), deterministic for a given ``rng`` state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from model_repository.builders.common import scale_ct, scale_percentile

CT_REGIONS = ("head", "neck", "chest", "abdomen", "pelvis", "lower_limbs")
AIR, LUNG, FAT, SOFT, BLOOD, BONE = -1000.0, -850.0, -100.0, 40.0, 60.0, 700.0


def _ellipse(yy, xx, cy, cx, ry, rx, angle: float = 0.0) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    dy, dx = yy - cy, xx - cx
    u, v = c * dx + s * dy, -s * dx + c * dy
    return (u / rx) ** 2 + (v / ry) ** 2 <= 1.0


def _blur(image: np.ndarray, passes: int = 1) -> np.ndarray:
    """Cheap separable [1, 2, 1] / 4 smoothing (partial-volume edges), ``passes`` times, any dimensionality."""
    out = image.astype(np.float32)
    for _ in range(passes):
        for axis in range(out.ndim):
            padded = np.concatenate([out.take([0], axis), out, out.take([-1], axis)], axis=axis)
            n = out.shape[axis]
            out = (padded.take(range(0, n), axis) + 2 * padded.take(range(1, n + 1), axis)
                   + padded.take(range(2, n + 2), axis)) / 4.0
    return out


def ct_slice_hu(rng: np.random.Generator, region: str, size: int = 256) -> np.ndarray:
    """One axial CT slice of ``region`` (one of ``CT_REGIONS``) in Hounsfield units, [size, size] float32."""
    if region not in CT_REGIONS:
        raise ValueError(f"unknown region {region!r}")
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    img = np.full((size, size), AIR, np.float32)
    s = size / 256.0
    j = lambda a, b: rng.uniform(a, b)  # noqa: E731 - jitter
    cy, cx = size / 2 + j(-6, 6) * s, size / 2 + j(-6, 6) * s
    if region == "head":
        ry, rx = j(95, 110) * s, j(78, 90) * s
        img[_ellipse(yy, xx, cy, cx, ry, rx)] = BONE  # skull
        img[_ellipse(yy, xx, cy, cx, ry - 6 * s, rx - 6 * s)] = 30.0  # brain
        img[_ellipse(yy, xx, cy, cx, ry * 0.25, rx * 0.08)] = 5.0  # ventricles
    elif region == "neck":
        ry, rx = j(45, 55) * s, j(50, 62) * s
        img[_ellipse(yy, xx, cy, cx, ry, rx)] = FAT
        img[_ellipse(yy, xx, cy, cx, ry - 5 * s, rx - 5 * s)] = SOFT
        img[_ellipse(yy, xx, cy + 18 * s, cx, 9 * s, 9 * s)] = BONE  # vertebra
        img[_ellipse(yy, xx, cy - 22 * s, cx, 6 * s, 7 * s)] = AIR  # trachea
    elif region in ("chest", "abdomen", "pelvis"):
        ry, rx = j(80, 95) * s, j(110, 122) * s
        img[_ellipse(yy, xx, cy, cx, ry, rx)] = FAT
        img[_ellipse(yy, xx, cy, cx, ry - j(6, 14) * s, rx - j(6, 14) * s)] = SOFT
        img[_ellipse(yy, xx, cy + (ry - 22 * s), cx, 10 * s, 11 * s)] = BONE  # vertebra
        if region == "chest":
            for side in (-1, 1):
                img[_ellipse(yy, xx, cy - 5 * s, cx + side * 50 * s, j(50, 60) * s, j(32, 40) * s)] = LUNG
            img[_ellipse(yy, xx, cy - 5 * s, cx - 5 * s, 22 * s, 18 * s)] = BLOOD  # heart / mediastinum
            for k in range(8):  # ribs
                a = np.pi * (0.1 + 0.8 * k / 7)
                for side in (-1, 1):
                    img[_ellipse(yy, xx, cy - np.cos(a) * (ry - 10 * s), cx + side * np.sin(a) * (rx - 10 * s),
                                 4 * s, 4 * s)] = BONE
        elif region == "abdomen":
            img[_ellipse(yy, xx, cy - 10 * s, cx - 40 * s, 35 * s, 45 * s)] = 55.0  # liver
            for _ in range(3):  # bowel gas
                img[_ellipse(yy, xx, cy + j(-30, 20) * s, cx + j(10, 60) * s, 5 * s, 7 * s)] = AIR
        else:
            for side in (-1, 1):  # iliac wings and femoral heads
                img[_ellipse(yy, xx, cy + 5 * s, cx + side * 60 * s, 35 * s, 14 * s, side * 0.6)] = BONE
                img[_ellipse(yy, xx, cy + 35 * s, cx + side * 45 * s, 12 * s, 12 * s)] = BONE
            img[_ellipse(yy, xx, cy + 30 * s, cx, 9 * s, 16 * s)] = 10.0  # bladder
    else:  # lower limbs: two thighs, each with a femur
        for side in (-1, 1):
            lx = cx + side * j(42, 52) * s
            img[_ellipse(yy, xx, cy, lx, j(36, 44) * s, j(32, 38) * s)] = FAT
            img[_ellipse(yy, xx, cy, lx, 30 * s, 26 * s)] = SOFT
            img[_ellipse(yy, xx, cy, lx, 8 * s, 8 * s)] = BONE
    img = _blur(img, 1)
    img += rng.normal(0.0, j(8.0, 20.0), img.shape).astype(np.float32)
    return img


def ct_slices(rng: np.random.Generator, count: int, size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """``count`` scaled CT slices cycling through the regions: ([count, 1, size, size], region indices)."""
    labels = np.array([i % len(CT_REGIONS) for i in range(count)])
    images = np.stack([scale_ct(ct_slice_hu(rng, CT_REGIONS[k], size)) for k in labels])[:, None]
    return images.astype(np.float32), labels


@dataclass
class ChestCT:
    """A synthetic chest CT volume (scaled to [-1, 1]) and its truth, all in voxel coordinates [z, y, x]."""

    volume: np.ndarray  # [slices, size, size] float32
    lung_mask: np.ndarray  # [slices, size, size] bool
    nodules: list[tuple[tuple[float, float, float], float]] = field(default_factory=list)  # (centre, radius)
    vessels: list[tuple[np.ndarray, np.ndarray, float]] = field(default_factory=list)  # (start, end, radius)


def chest_ct(rng: np.random.Generator, slices: int = 24, size: int = 256, n_nodules: int = 2,
             n_vessels: int = 6, nodule_radius: tuple[float, float] = (2.5, 5.0)) -> ChestCT:
    """A chest CT volume with two lungs, ``n_nodules`` spherical nodules and ``n_vessels`` tubes inside the lungs.

    Voxels are isotropic (the model sees slices and 32^3 cubes, both in voxels). Nodules are soft-tissue spheres
    of the given radius range (voxels), vessels blood-density tubes of radius 1-1.6 voxels running across the lung.
    """
    zz, yy, xx = np.mgrid[0:slices, 0:size, 0:size].astype(np.float32)
    s = size / 256.0
    cy, cx = size / 2 + rng.uniform(-5, 5) * s, size / 2 + rng.uniform(-5, 5) * s
    ry, rx = rng.uniform(80, 92) * s, rng.uniform(110, 120) * s
    vol = np.full((slices, size, size), AIR, np.float32)
    body2d = _ellipse(yy[0], xx[0], cy, cx, ry, rx)
    inner2d = _ellipse(yy[0], xx[0], cy, cx, ry - 10 * s, rx - 10 * s)
    vol[:, body2d] = FAT
    vol[:, inner2d] = SOFT
    zc = (slices - 1) / 2
    lungs = np.zeros(vol.shape, bool)
    centres = []
    for side in (-1, 1):
        lcy, lcx = cy - 5 * s, cx + side * 50 * s
        lry, lrx, lrz = rng.uniform(48, 58) * s, rng.uniform(30, 38) * s, slices * rng.uniform(0.7, 0.9)
        lung = ((yy - lcy) / lry) ** 2 + ((xx - lcx) / lrx) ** 2 + ((zz - zc) / lrz) ** 2 <= 1.0
        lungs |= lung
        centres.append((lcy, lcx, lry, lrx, lrz))
    vol[lungs] = LUNG
    vertebra = _ellipse(yy[0], xx[0], cy + ry - 22 * s, cx, 10 * s, 11 * s)
    vol[:, vertebra] = BONE
    truth = ChestCT(volume=vol, lung_mask=lungs)
    lung_voxels = np.argwhere(lungs)

    def inside_point(margin: float) -> np.ndarray:
        for _ in range(200):
            p = lung_voxels[rng.integers(len(lung_voxels))].astype(np.float64)
            lo = np.maximum(p - margin, 0).astype(int)
            hi = np.minimum(p + margin + 1, vol.shape).astype(int)
            if lungs[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]].all():
                return p
        return p

    for _ in range(n_vessels):
        a = inside_point(2.0)
        direction = rng.normal(0, 1, 3)
        direction[0] *= 0.5
        direction /= np.linalg.norm(direction)
        b = a + direction * rng.uniform(25, 60)
        r = rng.uniform(1.0, 1.6)
        p = np.stack([zz, yy, xx], -1) - a
        d = b - a
        t = np.clip((p @ d) / (d @ d), 0, 1)
        dist2 = ((p - t[..., None] * d) ** 2).sum(-1)
        vol[(dist2 <= r * r) & lungs] = BLOOD
        truth.vessels.append((a, b, float(r)))
    for _ in range(n_nodules):
        r = rng.uniform(*nodule_radius)
        c = inside_point(r + 2.0)
        ball = (zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2 <= r * r
        vol[ball] = SOFT
        truth.nodules.append(((float(c[0]), float(c[1]), float(c[2])), float(r)))
    vol = _blur(vol, 1) + rng.normal(0.0, rng.uniform(10, 25), vol.shape).astype(np.float32)
    truth.volume = scale_ct(vol)
    return truth


def nodule_cubes(rng: np.random.Generator, count: int, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """``count`` scaled CT cubes [count, 1, size, size, size] cycling nodule / plain lung / vessel.

    Items i % 3 == 0: label 1, a nodule (a sphere at the centre, radius 2.5-7 voxels, in 30 % of them with a thin
    vessel touching it on one side); i % 3 == 1: label 0, plain lung; i % 3 == 2: label 0, a vessel (a tube of
    radius 1-2.2 voxels through the centre, give or take 3.5 voxels, in a random direction).
    """
    zz, yy, xx = np.mgrid[0:size, 0:size, 0:size].astype(np.float32)
    p = np.stack([zz, yy, xx], -1) - (size - 1) / 2
    cubes = np.zeros((count, 1, size, size, size), np.float32)
    labels = np.zeros(count, np.int64)
    for i in range(count):
        vol = np.full((size,) * 3, LUNG + rng.uniform(-40, 60), np.float32)
        kind = i % 3
        offset = rng.uniform(-1.5, 1.5, 3)
        if kind in (0, 2) and rng.uniform() < (0.3 if kind == 0 else 1.0):
            d = rng.normal(0, 1, 3)
            d /= np.linalg.norm(d)
            r = rng.uniform(0.8, 1.2) if kind == 0 else rng.uniform(1.0, 2.2)
            q = p - offset - (rng.uniform(-2, 2, 3) if kind == 2 else d * 8.0)
            t = q @ d
            dist2 = (q ** 2).sum(-1) - t ** 2
            mask = dist2 <= r * r
            if kind == 0:  # the vessel only on one side of the nodule
                mask &= t > 0
            vol[mask] = BLOOD
        if kind == 0:
            r = rng.uniform(2.5, 7.0)
            vol[((p - offset) ** 2).sum(-1) <= r * r] = SOFT
            labels[i] = 1
        vol = _blur(vol, 1) + rng.normal(0.0, rng.uniform(10, 25), vol.shape).astype(np.float32)
        cubes[i, 0] = scale_ct(vol)
    return cubes, labels


def cardiac_mr(rng: np.random.Generator, size: int = 192, lv_radius: float | None = None) -> tuple[np.ndarray,
                                                                                                   np.ndarray]:
    """A short-axis cine MR frame (bSSFP-like: bright blood), scaled to [0, 1], and its label mask.

    Labels: 0 background, 1 LV blood pool (a disc), 2 LV myocardium (a ring around it), 3 RV blood pool (a
    crescent beside it). ``lv_radius`` in pixels (default random 10-22: end-systole to end-diastole).
    """
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    s = size / 192.0
    img = np.full((size, size), 0.02, np.float32)
    labels = np.zeros((size, size), np.int64)
    cy, cx = size / 2 + rng.uniform(-8, 8) * s, size / 2 + rng.uniform(-8, 8) * s
    body = _ellipse(yy, xx, cy, cx, rng.uniform(70, 85) * s, rng.uniform(85, 95) * s)
    img[body] = rng.uniform(0.25, 0.35)  # soft tissue
    for side in (-1, 1):  # lungs: dark
        img[_ellipse(yy, xx, cy - 5 * s, cx + side * 50 * s, 40 * s, 22 * s)] = 0.05
    r = (lv_radius if lv_radius is not None else rng.uniform(10, 22)) * s
    wall = rng.uniform(6, 9) * s
    lvy, lvx = cy + rng.uniform(-5, 5) * s, cx + 10 * s + rng.uniform(-5, 5) * s
    dist = np.sqrt((yy - lvy) ** 2 + (xx - lvx) ** 2)
    # RV: a crescent (annulus sector, 5-8 px thick whatever the LV size) on the patient's right (image left)
    # of the LV, bright blood, behind a 2 px septal gap beyond the LV wall.
    thick = rng.uniform(5, 8) * s
    inner = r + wall + 2 * s
    crescent = (dist > inner) & (dist <= inner + thick) & (xx < lvx - 0.2 * (r + wall)) & \
        (np.abs(yy - lvy) < 1.1 * (r + wall))
    rv = crescent
    img[rv] = rng.uniform(0.8, 0.95)
    labels[rv] = 3
    myo = (dist <= r + wall) & (dist > r)
    img[myo] = rng.uniform(0.2, 0.3)
    labels[myo] = 2
    lv = dist <= r
    img[lv] = rng.uniform(0.85, 1.0)
    labels[lv] = 1
    for _ in range(int(rng.integers(2, 5))):  # papillary muscles / trabeculae: small dark dots in the pool
        a = rng.uniform(0, 2 * np.pi)
        img[_ellipse(yy, xx, lvy + np.sin(a) * r * 0.6, lvx + np.cos(a) * r * 0.6, 1.5 * s, 1.5 * s)] = 0.35
    for _ in range(int(rng.integers(1, 4))):  # epicardial / subcutaneous fat: bright, thin
        a = rng.uniform(0, 2 * np.pi)
        rr = rng.uniform(55, 75) * s
        img[_ellipse(yy, xx, cy + np.sin(a) * rr, cx + np.cos(a) * rr, 3 * s, 10 * s, a)] = 0.7
    img = _blur(img, 1) * np.float32(rng.uniform(200, 900))
    img += np.abs(rng.normal(0, img.max() * 0.02, img.shape)).astype(np.float32)  # Rician-like noise floor
    return scale_percentile(img), labels


def cardiac_frames(rng: np.random.Generator, count: int, size: int = 192) -> tuple[np.ndarray, np.ndarray]:
    """``count`` cardiac frames [count, 1, size, size] and label masks [count, size, size]."""
    pairs = [cardiac_mr(rng, size) for _ in range(count)]
    return np.stack([p[0] for p in pairs])[:, None], np.stack([p[1] for p in pairs])


def _smooth_field(rng: np.random.Generator, height: int, width: int, cell: int) -> np.ndarray:
    """Smooth random field: N(0, 1) values on a grid of ``cell`` px spacing, bilinearly interpolated."""
    gy, gx = height // cell + 2, width // cell + 2
    coarse = rng.normal(0, 1, (gy, gx))
    rows = np.stack([np.interp(np.arange(width) / cell, np.arange(gx), r) for r in coarse])
    return np.stack([np.interp(np.arange(height) / cell, np.arange(gy), c) for c in rows.T], axis=1).astype(
        np.float32)


def mammogram(rng: np.random.Generator, n_lesions: int = 1, height: int = 1024,
              width: int = 832) -> tuple[np.ndarray, list[tuple[float, float, float, float]]]:
    """A synthetic mammogram (breast on the image left, chest wall at x = 0), scaled to [0, 1], and lesion boxes.

    Fatty tissue dark grey, patchy fibroglandular tissue brighter, ``n_lesions`` compact dense masses (radius
    20-60 px, as 5-28 mm at ~0.23 mm/px). Boxes are (x0, y0, x1, y1) in pixels.
    """
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.zeros((height, width), np.float32)
    cy = height / 2 + rng.uniform(-40, 40)
    breast = ((xx / (width * rng.uniform(0.7, 0.85))) ** 2 + ((yy - cy) / (height * rng.uniform(0.4, 0.48))) ** 2
              <= 1.0)
    img[breast] = rng.uniform(0.25, 0.35)
    # Fibroglandular tissue: smooth, large-scale random patches inside the breast (a coarse random grid with
    # 128 px spacing, bilinearly interpolated), towards the nipple side less.
    glandular = np.clip(_smooth_field(rng, height, width, 128) * 1.2, 0, 1) * breast * (xx < width * 0.6)
    img += glandular * rng.uniform(0.15, 0.3)
    boxes = []
    for _ in range(n_lesions):
        r = rng.uniform(20, 60)
        for _ in range(100):
            ly, lx = rng.uniform(cy - height * 0.3, cy + height * 0.3), rng.uniform(r + 40, width * 0.55)
            if breast[int(ly), int(lx)]:
                break
        ry, rx = r * rng.uniform(0.8, 1.2), r * rng.uniform(0.8, 1.2)
        mass = _ellipse(yy, xx, ly, lx, ry, rx, rng.uniform(0, np.pi))
        img[mass] = rng.uniform(0.85, 1.0)
        boxes.append((float(lx - rx), float(ly - ry), float(lx + rx), float(ly + ry)))
    img = _blur(img, 2) * np.float32(rng.uniform(1000, 4000))
    img += rng.normal(0, 10, img.shape).astype(np.float32)
    return scale_percentile(img), boxes


def mammograms(rng: np.random.Generator, count: int) -> tuple[np.ndarray, list[list[tuple]]]:
    """``count`` mammograms [count, 1, 1024, 832]; every third has no lesion, the others one or two."""
    images, boxes = [], []
    for i in range(count):
        img, b = mammogram(rng, n_lesions=(0 if i % 3 == 2 else 1 + i % 2))
        images.append(img)
        boxes.append(b)
    return np.stack(images)[:, None], boxes
