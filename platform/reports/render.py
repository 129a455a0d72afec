"""The human-readable report: HTML (Django template) and PDF (WeasyPrint), with key images and overlays.

Self-contained on purpose: key images are PNG data URIs and WeasyPrint's URL fetcher refuses everything that is
not a data URI, so rendering never reaches the network (a report must render in an air-gapped hospital, and a
crafted value can never make the server fetch a URL). Every report names the model, version and precision of each
stage, lists the critical findings, and carries the red "demo, not for diagnostic use" banner for demo models.
"""
from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from django.template.loader import render_to_string
from PIL import Image, ImageDraw

from reports.measurements import measurement_groups
from reports.results import assessment_title

KEY_IMAGE_MAX_SIDE = 512
MAX_KEY_IMAGES = 6
_RED = (230, 30, 30)
_MASK_COLOURS = [(60, 200, 255), (255, 210, 0), (80, 255, 120), (255, 120, 255), (255, 140, 0)]  # boxes are red


@dataclass(frozen=True)
class KeyImage:
    caption: str
    data_uri: str


def display_pixels(dataset) -> np.ndarray:
    """A display-ready [0, 1] float image of a pydicom dataset: modality LUT, a CT lung-to-soft-tissue window or
    the 1st-99th percentile range otherwise, MONOCHROME1 inverted."""
    from pydicom.pixels import apply_modality_lut

    array = apply_modality_lut(dataset.pixel_array, dataset).astype(np.float32)
    if array.ndim == 3:  # multi-frame: the first frame is the key image
        array = array[0]
    if getattr(dataset, "Modality", "") == "CT":
        low, high = -1000.0, 400.0
    else:
        low, high = (float(v) for v in np.percentile(array, [1, 99]))
    scaled = np.clip((array - low) / max(high - low, 1e-6), 0.0, 1.0)
    if getattr(dataset, "PhotometricInterpretation", "") == "MONOCHROME1":
        scaled = 1.0 - scaled
    return scaled


def _rgb(pixels: np.ndarray) -> Image.Image:
    return Image.fromarray(np.round(np.clip(pixels, 0, 1) * 255).astype(np.uint8)).convert("RGB")


def _outline(mask: np.ndarray) -> np.ndarray:
    """Boundary pixels of a boolean mask (mask minus its 4-neighbour erosion)."""
    mask = mask.astype(bool)
    interior = mask.copy()
    interior[1:, :] &= mask[:-1, :]
    interior[:-1, :] &= mask[1:, :]
    interior[:, 1:] &= mask[:, :-1]
    interior[:, :-1] &= mask[:, 1:]
    return mask & ~interior


def _resize_mask(mask: np.ndarray, rows: int, columns: int) -> np.ndarray:
    if mask.shape == (rows, columns):
        return mask
    r = np.minimum((np.arange(rows) * mask.shape[0] / rows).astype(int), mask.shape[0] - 1)
    c = np.minimum((np.arange(columns) * mask.shape[1] / columns).astype(int), mask.shape[1] - 1)
    return mask[np.ix_(r, c)]


def _draw(pixels: np.ndarray, *, heatmap=None, boxes=(), masks: Sequence[np.ndarray] = ()) -> Image.Image:
    rows, columns = pixels.shape
    image = _rgb(pixels)
    if heatmap is not None:
        grid = np.clip(np.asarray(heatmap, dtype=np.float32), 0, 1)
        heat = np.asarray(Image.fromarray(np.round(grid * 255).astype(np.uint8)).resize(
            (columns, rows), Image.BILINEAR), dtype=np.float32) / 255.0
        base = np.asarray(image, dtype=np.float32)
        colour = np.stack([np.full_like(heat, 255), heat * 200, np.zeros_like(heat)], axis=-1)
        alpha = (0.45 * heat)[..., None]
        image = Image.fromarray(np.round(base * (1 - alpha) + colour * alpha).astype(np.uint8))
    if len(masks):
        array = np.asarray(image).copy()
        for number, mask in enumerate(masks):
            edge = _outline(_resize_mask(np.asarray(mask, dtype=bool), rows, columns))
            array[edge] = _MASK_COLOURS[number % len(_MASK_COLOURS)]
        image = Image.fromarray(array)
    draw = ImageDraw.Draw(image)
    width = max(1, round(max(rows, columns) / 256))
    for x0, y0, x1, y1 in boxes:
        draw.rectangle([x0, y0, x1, y1], outline=_RED, width=width)
    if max(rows, columns) > KEY_IMAGE_MAX_SIDE:
        scale = KEY_IMAGE_MAX_SIDE / max(rows, columns)
        image = image.resize((max(1, round(columns * scale)), max(1, round(rows * scale))), Image.LANCZOS)
    return image


def _data_uri(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def key_images(result: dict, images: Sequence[np.ndarray], masks: Mapping[str, np.ndarray] | None = None
               ) -> list[KeyImage]:
    """The report's key images with their overlays drawn: the heat map of bone age, the boxes of lesions and
    nodules (and nodule mask outlines), the cardiac chambers' outlines on the end-diastolic phase, and the middle
    slice of each CT body region. `images` are display-ready [0, 1] arrays in series order."""
    if not images:
        return []
    masks = dict(masks or {})
    name = result.get("assessment")
    out: list[KeyImage] = []

    def plane(index: int, labels=None) -> list[np.ndarray]:
        chosen = [masks[label][index] for label in (labels or masks) if label in masks
                  and index < len(masks[label])]
        return [m for m in chosen if np.asarray(m).any()]

    heat = next((o.get("grid") for o in result.get("overlays") or [] if o.get("kind") == "heatmap"
                 and o.get("grid")), None)
    if name == "bone_age":
        out.append(KeyImage("Hand radiograph with the model's attention map", _data_uri(
            _draw(images[0], heatmap=heat))))
    elif name == "mammography":
        boxes = [lesion["box"] for lesion in result.get("lesions") or []]
        out.append(KeyImage(f"Mammogram with {len(boxes)} lesion box(es)", _data_uri(_draw(images[0], boxes=boxes))))
    elif name == "lung_nodule":
        for nodule in (result.get("nodules") or [])[:MAX_KEY_IMAGES]:
            index = min(max(int(nodule["slice_index"]), 0), len(images) - 1)
            z0, y0, x0, z1, y1, x1 = nodule["bbox_voxel"]
            rows, columns = images[index].shape
            label = f"nodule-{nodule['id']}"
            out.append(KeyImage(
                f"Nodule {nodule['id']}: {nodule['diameter_mm']:.1f} mm, slice {index + 1}",
                _data_uri(_draw(images[index], boxes=[(x0, y0, x1, y1)],
                                masks=plane(index, [label]) if label in masks else []))))
    elif name == "cardiac_function":
        # The first instance with segmented chambers (masks are aligned with the series), else the middle one.
        index = next((i for i in range(len(images)) if plane(i)), len(images) // 2)
        out.append(KeyImage("Cardiac chambers (LV blood pool, LV myocardium, RV blood pool)",
                            _data_uri(_draw(images[index], masks=plane(index)))))
    elif name == "ct_anatomy":
        for region in (result.get("regions") or [])[:MAX_KEY_IMAGES]:
            index = min((int(region["first_index"]) + int(region["last_index"])) // 2, len(images) - 1)
            out.append(KeyImage(f"{region['region'].replace('_', ' ').capitalize()}: slices "
                                f"{region['first_index'] + 1}-{region['last_index'] + 1}",
                                _data_uri(_draw(images[index]))))
    else:
        out.append(KeyImage("Image", _data_uri(_draw(images[0]))))
    return out


def _format(value: float) -> str:
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}".rstrip("0").rstrip(".") or "0"


def report_context(*, result: dict, assessment, images: Sequence[np.ndarray] = (),
                   masks: Mapping[str, np.ndarray] | None = None) -> dict:
    """Template context of a report (values, model stages, critical findings, key images, demo banner)."""
    groups = []
    for group in measurement_groups(result):
        rows = [{"name": m.concept.display, "value": _format(m.value),
                 "unit": "" if m.unit.code == "1" else m.unit.code} for m in group.measures]
        rows += [{"name": q.concept.display, "value": q.text, "unit": ""} for q in group.qualitative]
        groups.append({"label": group.label, "rows": rows, "critical": group.critical})
    instance = assessment.instance
    return {
        "title": assessment_title(result["assessment"]),
        "result": result,
        "demo": bool(result["model"]["demo"]),
        "notice": result.get("notice") or "",
        "stages": result["model"]["stages"],
        "critical_findings": result.get("critical_findings") or [],
        "groups": groups,
        "key_images": key_images(result, images, masks),
        "assessment_id": str(assessment.id),
        "study_uid": instance.study.study_instance_uid,
        "series_uid": getattr(assessment.series, "series_instance_uid", "") or instance.series_instance_uid,
        "submitted_at": assessment.created_at,
        "finished_at": assessment.finished_at,
        "patient_sex": assessment.patient_sex,
        "chronological_age_months": assessment.chronological_age_months,
    }


def report_html(**kwargs) -> str:
    """The report as one self-contained HTML page (see report_context for the arguments)."""
    return render_to_string("reports/report.html", report_context(**kwargs))


def _fetcher():
    """WeasyPrint's fetcher restricted to data: URIs (urllib's data handler; no http, https, ftp or file)."""
    from weasyprint.urls import URLFetcher

    return URLFetcher(allowed_protocols={"data"}, fail_on_errors=True, allow_redirects=False)


def report_pdf(html: str) -> bytes:
    """The PDF of a report page, rendered by WeasyPrint without any network or file access."""
    from PIL import ImageFile
    from weasyprint import HTML

    # Importing WeasyPrint turns Pillow's LOAD_TRUNCATED_IMAGES on for the whole process; uploads must stay strict
    # (studies.imaging refuses truncated files), and the report's own images are never truncated.
    ImageFile.LOAD_TRUNCATED_IMAGES = False

    return HTML(string=html, url_fetcher=_fetcher(), base_url=None).write_pdf()
