"""Results of every assessment type that satisfy docs/results/*.schema.json, for the report tests."""
from __future__ import annotations

DEMO = "demo, not for diagnostic use"


def _common(name: str, stages: list[tuple[str, int, str]], summary: str, critical=(), overlays=()) -> dict:
    return {
        "assessment": name,
        "model": {"name": stages[-1][0] if len(stages) == 1 else name, "version": stages[-1][1],
                  "precision": stages[-1][2], "demo": True,
                  "stages": [{"name": n, "version": v, "precision": p, "demo": True} for n, v, p in stages]},
        "notice": DEMO,
        "critical_findings": [{"code": c, "message": m} for c, m in critical],
        "summary": summary,
        "overlays": list(overlays),
    }


def bone_age_result() -> dict:
    grid = [[round(((r * 16 + c) % 17) / 16, 3) for c in range(16)] for r in range(16)]
    return {**_common("bone_age", [("bone_age", 1, "FP32")], "Bone age 10 y 4 m.",
                      overlays=[{"kind": "heatmap", "grid": grid, "label": "attention"}]),
            "bone_age_months": 124.4, "bone_age_years_months": "10 y 4 m", "sex": "F",
            "chronological_age_months": 120.0, "difference_months": 4.4, "reference_sd_months": 11.73,
            "z_score": 0.38, "reading": "normal", "reference": "Greulich & Pyle", "notes": [],
            "z_score_unavailable_reason": None}


def ct_anatomy_result(datasets) -> dict:
    slices = [{"index": i, "sop_instance_uid": ds.SOPInstanceUID, "location_mm": float(ds.ImagePositionPatient[2]),
               "region": "chest" if i < 5 else "abdomen", "probability": 0.9} for i, ds in enumerate(datasets)]
    last = len(datasets) - 1
    return {**_common("ct_anatomy", [("ct_anatomy", 2, "INT8")], "Body regions: chest, abdomen."),
            "slices": slices,
            "regions": [{"region": "chest", "first_index": 0, "last_index": 4, "start_mm": 0.0, "end_mm": 5.0,
                         "slice_count": 5},
                        {"region": "abdomen", "first_index": 5, "last_index": last, "start_mm": 6.25,
                         "end_mm": last * 1.25, "slice_count": last - 4}]}


def lung_nodule_result() -> dict:
    stages = [("lung_segmentation", 1, "FP32"), ("nodule_candidates", 1, "FP32"), ("nodule_fp_reduction", 2, "INT8")]
    nodules = [
        {"id": 1, "centroid_voxel": [4, 16, 16], "centroid_mm": [0.0, 0.0, 5.0], "diameter_mm": 9.1,
         "longest_axial_diameter_mm": 10.2, "volume_mm3": 395.0, "probability": 0.93, "slice_index": 4,
         "bbox_voxel": [2, 12, 12, 7, 21, 21]},
        {"id": 2, "centroid_voxel": [2, 6, 24], "centroid_mm": [5.6, -7.0, 2.5], "diameter_mm": 4.0,
         "longest_axial_diameter_mm": 4.4, "volume_mm3": 33.5, "probability": 0.71, "slice_index": 2,
         "bbox_voxel": [1, 4, 22, 4, 9, 27]},
    ]
    return {**_common("lung_nodule", stages, "2 lung nodules; the largest 9.1 mm.",
                      critical=[("nodule_8mm_or_more", "A lung nodule of 9.1 mm (8 mm or more).")],
                      overlays=[{"kind": "mask", "artifact": "nodules.npz", "label": "nodules"}]),
            "nodules": nodules, "lung_volume_ml": 4820.5}


def cardiac_result() -> dict:
    return {**_common("cardiac_function", [("cardiac_segmentation", 1, "FP32")],
                      "LV ejection fraction 31%.",
                      critical=[("lv_ef_below_35", "Left ventricular ejection fraction 31% (under 35%).")],
                      overlays=[{"kind": "mask", "artifact": "cardiac_masks.npz"}]),
            "lv_edv_ml": 160.0, "lv_esv_ml": 110.4, "lv_sv_ml": 49.6, "lv_ef_percent": 31.0,
            "lv_myocardial_mass_g": 132.5, "rv_edv_ml": 150.2, "rv_esv_ml": 75.1, "rv_ef_percent": 50.0,
            "ed_phase": 0, "es_phase": 3}


def mammography_result() -> dict:
    return {**_common("mammography", [("mammography_detection", 1, "FP32")],
                      "1 lesion; BI-RADS-style category 4.",
                      critical=[("birads_4_or_5", "BI-RADS-style category 4.")],
                      overlays=[{"kind": "boxes", "boxes": [{"box": [14, 14, 27, 27], "score": 0.88}]}]),
            "lesions": [{"box": [14, 14, 27, 27], "score": 0.88}],
            "birads": {"category": "4", "text": "Suspicious"}, "laterality": "L", "view": "CC"}
