"""Plain-language explanations of the API's problem codes, for people at the submit page.

The codes are the API's (RFC 9457 `code`), so a person and an HIS see the same reason; the wording here says what
to do next. Unknown codes fall back to the service's own message.
"""
from __future__ import annotations

from django.utils.translation import gettext_lazy as _

PLAIN_WORDS = {
    "file_missing": _("No file was received. Choose the file again."),
    "file_too_large": _("This file is larger than the upload limit."),
    "empty_file": _("This file is empty."),
    "not_an_image": _("This is not a DICOM, PNG or JPEG image."),
    "malformed_dicom": _("This DICOM file is damaged and cannot be read."),
    "truncated_dicom": _("This DICOM file is incomplete (it ends too early). Export it again from the PACS."),
    "no_pixel_data": _("This DICOM file holds no image."),
    "undecodable_pixel_data": _("The image data uses a compression we cannot decode. Send it uncompressed."),
    "unsupported_image": _("This kind of image is not supported (it must be a single grayscale radiograph)."),
    "image_too_large": _("The image has too many pixels to process."),
    "image_too_small": _("The image is too small for this assessment."),
    "unsupported_modality": _("This assessment needs a different kind of study (modality)."),
    "unsupported_body_part": _("This assessment needs a different body part."),
    "unknown_model": _("This assessment is not available."),
    "model_missing": _("Choose an assessment."),
    "missing_patient_sex": _("Patient sex is needed: choose female or male."),
    "invalid_patient_sex": _("Patient sex must be female or male."),
    "invalid_chronological_age": _("The age must be between 0 and 25 years."),
    "invalid_priority": _("Priority must be routine or urgent."),
    "rate_limited": _("Too many requests from your hospital right now. Wait a minute and submit again."),
    "quota_exceeded": _("Your hospital has used this month's assessments. Ask your administrator."),
    "model_version_unavailable": _("The assessment is temporarily unavailable. Try again in a few minutes."),
    "storage_unavailable": _("The image store is unavailable; nothing was saved. Try again shortly."),
    "audit_unavailable": _("The audit trail cannot be written; nothing was saved. Try again shortly."),
    "too_many_files": _("This assessment takes one image; send exactly one file."),
    "series_required": _("This assessment needs a whole series: send every file of the series, or one zip."),
    "series_mixed": _("These files belong to more than one series."),
    "series_incomplete": _("A slice is missing from this series."),
    "series_duplicate_position": _("Two slices of this series are at the same position."),
    "series_inconsistent_orientation": _("The slices of this series are not oriented alike."),
    "series_inconsistent_geometry": _("The slices of this series differ in size or spacing."),
    "series_missing_geometry": _("A slice lacks its position or spacing."),
    "series_too_few_slices": _("This series has too few slices for the assessment."),
    "series_phases_uneven": _("The cine series has uneven phases."),
    "zip_invalid": _("The zip file cannot be read."),
    "zip_empty": _("The zip file holds no DICOM files."),
    "zip_too_large": _("The zip file expands to more than the upload limit."),
}


def plain_words(code: str, fallback: str = "") -> str:
    """The person-facing sentence for an API problem code (fallback: the service's message)."""
    message = PLAIN_WORDS.get(code)
    return str(message) if message is not None else (fallback or str(_("The file was refused.")))
