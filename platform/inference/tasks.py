"""Celery tasks that run assessments on the model server.

Safe to run twice (state checked under a row lock; "already finished" and "row gone" are success), acked late
(a worker that dies mid-task gets the message redelivered), transient failures retried with capped
exponential backoff, and every other failure ends in a visible `failed` state with a code and a reason.
"""
from __future__ import annotations

import functools
import logging
import time
from datetime import timedelta

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.utils import timezone

from inference import services
from inference.catalog import DEMO_NOTICE, get_assessment_model
from inference.model_client import (
    MalformedResponse,
    ModelInputError,
    ModelNotFound,
    ModelServerError,
    ModelServerUnavailable,
    make_model_client,
)
from inference.models import Assessment
from studies import storage
from studies.imaging import ImageRejected, parse_upload
from tenants.context import dangerously_operator_access
from tenants.tasks import TenantTask

logger = logging.getLogger(__name__)


class TransientFailure(Exception):
    """A dependency failed in a way worth retrying (model server or object store unavailable)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class PermanentFailure(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@functools.lru_cache(maxsize=4)
def _model_client(api: str, url: str, timeout_s: float):
    return make_model_client(api=api, url=url, timeout_s=timeout_s)


def model_client():
    """The process's model-server client, built from settings (cached; gRPC channels are thread-safe)."""
    return _model_client(settings.MODEL_SERVER_API, settings.MODEL_SERVER_URL, settings.MODEL_SERVER_TIMEOUT_S)


_READINESS_TTL_S = 5.0
_readiness_cache: dict[tuple[str, int], tuple[float, bool | None]] = {}


def model_version_ready(model_name: str, version: int) -> bool | None:
    """Ask the model server whether a version is loaded and ready (not only whether the server is live).

    Cached for a few seconds per process so a burst of submissions costs one call. None when the server cannot
    be asked (down): callers then proceed and the worker's retries cover the outage.
    """
    key = (model_name, int(version))
    now = time.monotonic()
    cached = _readiness_cache.get(key)
    if cached is not None and now - cached[0] < _READINESS_TTL_S:
        return cached[1]
    try:
        ready: bool | None = model_client().is_model_ready(model_name, int(version), timeout_s=2.0)
    except ModelServerUnavailable:
        ready = None
    except ModelServerError:
        ready = False
    _readiness_cache[key] = (now, ready)
    return ready


def retry_delay_s(retries_so_far: int) -> float:
    return min(settings.INFERENCE_RETRY_MAX_S, settings.INFERENCE_RETRY_BASE_S * (2**retries_so_far))


def _infer(assessment: Assessment, version: int | None = None, precision: str | None = None,
           is_demo: bool | None = None) -> dict:
    """Load the image, run the model and interpret its outputs. Raises TransientFailure or PermanentFailure.

    `version` defaults to the assessment's own; the shadow run passes its version (and its precision/demo flag).
    """
    version = assessment.model_version if version is None else version
    precision = assessment.model_precision if precision is None else precision
    is_demo = assessment.model_is_demo if is_demo is None else is_demo
    assessment_model = get_assessment_model(assessment.model_name)
    if assessment_model is None:
        raise PermanentFailure("unknown_model", f"The model {assessment.model_name!r} is no longer offered.")
    if assessment_model.pipeline is not None:
        return _run_pipeline(assessment, assessment_model)
    parsed = _load_image(assessment.instance)
    inputs = assessment_model.build_inputs(parsed, assessment.patient_sex, assessment.chronological_age_months)
    prediction = _predict(assessment.model_name, version, inputs)

    try:
        interpretation = assessment_model.read_outputs(
            prediction.outputs, assessment.patient_sex, assessment.chronological_age_months
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise PermanentFailure("model_response_malformed", "The model's output could not be interpreted.") from exc

    return {
        "assessment": assessment.model_name,
        **interpretation,
        "model": {
            "name": assessment.model_name,
            "version": prediction.model_version,
            "precision": precision,
            "demo": is_demo,
            "stages": [{"name": assessment.model_name, "version": prediction.model_version, "precision": precision,
                        "demo": is_demo}],
        },
        **({"notice": DEMO_NOTICE} if is_demo else {}),
    }


def _read_object(instance) -> bytes:
    """The stored bytes of one image, checked against the SHA-256 recorded at upload."""
    try:
        return storage.get_image(key=instance.storage_key, expected_sha256=instance.sha256)
    except storage.StorageUnavailable as exc:
        raise TransientFailure("storage_unavailable", "The image store could not be reached.") from exc
    except storage.StoredObjectMissing as exc:
        raise PermanentFailure("image_missing", "The stored image is missing from the object store.") from exc
    except storage.StoredObjectCorrupt as exc:
        raise PermanentFailure("image_corrupt", "The stored image does not match its recorded checksum.") from exc


def _load_image(instance):
    try:
        return parse_upload(_read_object(instance))
    except ImageRejected as exc:
        raise PermanentFailure(exc.code, exc.message) from exc


def _predict(model_name: str, version: int, inputs: dict):
    """One model-server call, its failures mapped to transient (retry) or permanent (fail) outcomes."""
    try:
        return model_client().predict(model_name=model_name, model_version=version, inputs=inputs)
    except ModelServerUnavailable as exc:
        raise TransientFailure(
            "model_server_unavailable", "The model server could not be reached or did not answer in time."
        ) from exc
    except ModelNotFound as exc:
        raise PermanentFailure(
            "model_version_unavailable", f"The model server does not serve {model_name} version {version}.",
        ) from exc
    except ModelInputError as exc:
        raise PermanentFailure("model_input_rejected", "The model server rejected the prepared input.") from exc
    except MalformedResponse as exc:
        raise PermanentFailure("model_response_malformed", "The model server's answer could not be read.") from exc


def _run_pipeline(assessment: Assessment, assessment_model) -> dict:
    """Run every stage of a pipeline assessment as one unit on the versions chosen at submission.

    Any stage failing fails the whole assessment (nothing partial is kept). Returns the result, with the arrays to
    keep as artifacts and the key image under private keys the caller pops (`_arrays`, `_key_instance_id`).
    """
    from inference.pipelines import PipelineContext, PipelineInputError

    stages = assessment.stage_versions or [{"name": m, "version": assessment.model_version,
                                            "precision": assessment.model_precision,
                                            "demo": assessment.model_is_demo}
                                           for m in assessment_model.stage_models]
    versions = {stage["name"]: int(stage["version"]) for stage in stages}
    served: dict[str, int] = {}

    def infer(model_name: str, inputs: dict) -> dict:
        if model_name not in versions:
            raise PermanentFailure("internal_error", f"The pipeline asked for {model_name}, not one of its stages.")
        prediction = _predict(model_name, versions[model_name], inputs)
        served[model_name] = prediction.model_version
        return prediction.outputs

    context = PipelineContext(infer=infer, patient_sex=assessment.patient_sex,
                              chronological_age_months=assessment.chronological_age_months)
    members = []
    if assessment.series_id:
        from studies.models import SeriesMember
        from studies.series import SeriesRejected, assemble_series

        members = list(SeriesMember.objects.filter(series_id=assessment.series_id).select_related("instance")
                       .order_by("position"))
        files = [(f"{member.position:05d}.dcm", _read_object(member.instance)) for member in members]
        try:
            context.series = assemble_series(files, min_slices=assessment_model.min_slices, cine=assessment_model.cine)
        except SeriesRejected as exc:
            raise PermanentFailure(exc.code, exc.message) from exc
    else:
        context.image = _load_image(assessment.instance)
    try:
        output = assessment_model.pipeline(context)
    except (PipelineInputError, ImageRejected) as exc:  # incl. studies.series.SeriesRejected from decoding
        raise PermanentFailure(exc.code, exc.message) from exc
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        logger.warning("assessment %s: pipeline output unreadable (%s)", assessment.id, type(exc).__name__)
        raise PermanentFailure("model_response_malformed", "The model's output could not be interpreted.") from exc

    key_instance_id = None
    if output.key_position is not None and context.series is not None:
        # The ordered instance list of the series at run time matches the stored member order (same ordering).
        key_sop = context.series.instances[output.key_position].sop_instance_uid
        key_instance_id = next((m.instance_id for m in members if m.instance.sop_instance_uid == key_sop), None)
    is_demo = any(stage.get("demo", True) for stage in stages)
    stage_rows = [{"name": stage["name"], "version": served.get(stage["name"], int(stage["version"])),
                   "precision": stage.get("precision", ""), "demo": bool(stage.get("demo", True))}
                  for stage in stages]
    return {
        "assessment": assessment.model_name,
        **output.result,
        "model": {"name": assessment.model_name, "version": stage_rows[0]["version"],
                  "precision": assessment.model_precision, "demo": is_demo, "stages": stage_rows},
        **({"notice": DEMO_NOTICE} if is_demo else {}),
        "_arrays": output.arrays,
        "_key_instance_id": str(key_instance_id) if key_instance_id else None,
    }


def _store_arrays(assessment: Assessment, arrays: dict) -> list[dict]:
    """Write each named set of arrays as a compressed .npz under the assessment's derived prefix."""
    import hashlib
    import io

    import numpy as np

    from tenants.storage_keys import derived_object_key

    stored = []
    for name, payload in (arrays or {}).items():
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **payload)
        data = buffer.getvalue()
        sha256 = hashlib.sha256(data).hexdigest()
        key = derived_object_key(tenant_id=assessment.tenant_id, assessment_id=assessment.id, name=name)
        try:
            storage.put_image(key=key, data=data, content_type="application/x-npz", sha256=sha256)
        except storage.StorageUnavailable as exc:
            raise TransientFailure("storage_unavailable", "The object store could not be reached.") from exc
        stored.append({"name": name, "kind": "mask", "storage_key": key, "sha256": sha256, "size_bytes": len(data),
                       "content_type": "application/x-npz"})
    return stored


@shared_task(bind=True, base=TenantTask, name="inference.tasks.run_assessment", max_retries=None)
def run_assessment(self, *, tenant_id: str, assessment_id: str) -> None:
    """Run one assessment. Called with ids only; the tenant is restored by TenantTask."""
    assessment = services.assessment_start(assessment_id=assessment_id)
    if assessment is None:
        return  # gone or already finished: a duplicate delivery
    # A message redelivered again and again (a worker killed by this very image, say) must end, not loop.
    if assessment.attempts > settings.INFERENCE_MAX_RETRIES + 3:
        services.assessment_fail(
            assessment_id=assessment_id, code="too_many_attempts",
            message="The assessment was interrupted too many times and was stopped.",
        )
        return
    try:
        result = _infer(assessment)
    except TransientFailure as failure:
        retries = self.request.retries or 0
        if retries >= settings.INFERENCE_MAX_RETRIES:
            services.assessment_fail(assessment_id=assessment_id, code=failure.code,
                                     message=f"{failure.message} Gave up after {retries + 1} attempts.")
            return
        delay = retry_delay_s(retries)
        logger.info("assessment %s: %s, retry %d in %.1fs", assessment_id, failure.code, retries + 1, delay)
        services.assessment_note_retry(assessment_id=assessment_id, code=failure.code, message=failure.message)
        raise self.retry(countdown=delay, exc=failure)
    except PermanentFailure as failure:
        services.assessment_fail(assessment_id=assessment_id, code=failure.code, message=failure.message)
        return
    except SoftTimeLimitExceeded:
        services.assessment_fail(assessment_id=assessment_id, code="inference_timeout",
                                 message="The assessment took longer than the platform's time limit.")
        return
    except Exception:
        # A bug, not the hospital's input: visible as failed, with the stack trace in the worker log only.
        logger.exception("assessment %s failed unexpectedly", assessment_id)
        services.assessment_fail(assessment_id=assessment_id, code="internal_error",
                                 message="The platform failed to complete the assessment; operators were alerted.")
        return
    arrays = result.pop("_arrays", None)
    key_instance_id = result.pop("_key_instance_id", None)
    try:
        artifacts = _store_arrays(assessment, arrays)
    except TransientFailure as failure:
        services.assessment_note_retry(assessment_id=assessment_id, code=failure.code, message=failure.message)
        raise self.retry(countdown=retry_delay_s(self.request.retries or 0), exc=failure)
    try:
        recorded = services.assessment_succeed(assessment_id=assessment_id, result=result,
                                               served_version=result["model"]["version"], artifacts=artifacts,
                                               key_instance_id=key_instance_id)
    except Exception:
        # Never leave it `running` with no one working on it: visible as failed, the trace in the worker log.
        logger.exception("assessment %s: recording the result failed", assessment_id)
        services.assessment_fail(assessment_id=assessment_id, code="internal_error",
                                 message="The platform failed to record the result; operators were alerted.")
        return
    if recorded and assessment.shadow_version:
        _run_shadow(assessment, result)


def _run_shadow(assessment: Assessment, primary_result: dict) -> None:
    """Run the shadow version on the same input and store how it compares. Best effort: the hospital's result
    is already recorded, so a shadow failure is stored as such and never touches the assessment."""
    from registry.models import ModelVersion

    row = ModelVersion.objects.filter(model_name=assessment.model_name, version=assessment.shadow_version).first()
    precision = row.precision if row else "unknown"
    try:
        shadow_result = _infer(assessment, version=assessment.shadow_version, precision=precision,
                               is_demo=row.is_demo if row else True)
    except (TransientFailure, PermanentFailure) as failure:
        services.shadow_result_record(assessment=assessment, version=assessment.shadow_version,
                                      precision=precision, result=None, difference=None, agrees=None,
                                      error_code=failure.code)
        return
    compare = get_assessment_model(assessment.model_name).compare
    difference, agrees = compare(primary_result, shadow_result) if compare else (None, None)
    services.shadow_result_record(assessment=assessment, version=assessment.shadow_version, precision=precision,
                                  result=shadow_result, difference=difference, agrees=agrees)


@shared_task(name="inference.tasks.requeue_stale_assessments")
def requeue_stale_assessments() -> int:
    """Publish again the assessments still queued long after their last publish (or never published).

    Covers a broker outage at submission time and messages lost with a broker. Operator path: crosses
    hospitals on purpose. Returns how many were published.
    """
    cutoff = timezone.now() - timedelta(seconds=settings.REQUEUE_STALE_AFTER_S)
    with dangerously_operator_access(reason="requeue sweep of stale queued assessments"):
        stale = Assessment.objects.dangerously_all_tenants().filter(status=Assessment.Status.QUEUED,
                                                                   created_at__lt=cutoff)
        stale = stale.filter(enqueued_at__isnull=True) | stale.filter(enqueued_at__lt=cutoff)
        published = 0
        for assessment in stale.select_related("tenant")[:500]:
            if services.assessment_enqueue(assessment=assessment):
                published += 1
    return published
