"""series_ingest (studies.services) with the real database (row-level security on) and a private SeaweedFS."""
from __future__ import annotations

import hashlib
import threading

import pytest
from django.db import connection

from studies import storage
from studies.imaging import parse_upload
from studies.models import ImageInstance, Series, SeriesMember, Study
from studies.series import assemble_series
from studies.services import image_ingest, series_ingest
from tenants.context import tenant_context
from tenants.storage_keys import study_object_key, tenant_prefix
from tests.factories.dicom_series import chest_ct_phantom, cine_mr_phantom


@pytest.fixture
def s3_settings(s3_server, settings):
    """The platform's object store is the test run's private SeaweedFS (restored after the test)."""
    settings.S3_ENDPOINT_URL = s3_server.endpoint_url
    settings.S3_ACCESS_KEY = s3_server.access_key
    settings.S3_SECRET_KEY = s3_server.secret_key
    settings.S3_BUCKET = s3_server.bucket
    storage._client.cache_clear()
    yield settings
    storage._client.cache_clear()


@pytest.fixture
def phantom():
    return chest_ct_phantom(slices=12, rows=32, columns=32, seed=11)


def ingest(hospital, files, **kwargs):
    with tenant_context(hospital.tenant):
        return series_ingest(tenant=hospital.tenant, series=assemble_series(files, **kwargs))


def test_a_series_is_stored_instance_by_instance_with_members_in_anatomical_order(hospital_a, s3_settings, phantom):
    result = ingest(hospital_a, phantom.files)

    assert result.created
    with tenant_context(hospital_a.tenant):
        series = Series.objects.get(id=result.series.id)
        members = list(SeriesMember.objects.filter(series=series).select_related("instance").order_by("position"))
        assert series.series_instance_uid == phantom.series_uid and series.study.study_instance_uid == phantom.study_uid
        assert (series.modality, series.body_part_examined, series.instance_count) == ("CT", "CHEST", 12)
        assert series.geometry["slice_spacing_mm"] == 1.5 and series.geometry["slice_count"] == 12
        assert [m.position for m in members] == list(range(12))
        assert [m.instance.sop_instance_uid for m in members] == phantom.sop_uids
        assert [m.location_mm for m in members] == pytest.approx([1.5 * k for k in range(12)])
        assert ImageInstance.objects.count() == 12 and Study.objects.count() == 1
        by_sha = {hashlib.sha256(data).hexdigest(): data for _, data in phantom.files}
        for member in members:
            instance = member.instance
            # The same content-addressed key image_ingest gives a single upload, and the very bytes sent.
            assert instance.storage_key == study_object_key(
                tenant_id=hospital_a.tenant.id, study_uid=phantom.study_uid, series_uid=phantom.series_uid,
                sha256=instance.sha256, content_type="application/dicom")
            assert storage.get_image(key=instance.storage_key, expected_sha256=instance.sha256) == by_sha[
                instance.sha256]
            assert (instance.modality, instance.rows, instance.columns) == ("CT", 32, 32)


def test_sending_the_same_files_again_in_another_order_returns_the_same_series(hospital_a, s3_settings, phantom):
    first = ingest(hospital_a, phantom.files)
    again = ingest(hospital_a, list(reversed(phantom.files)))

    assert not again.created and again.series.id == first.series.id
    with tenant_context(hospital_a.tenant):
        assert Series.objects.count() == 1
        assert SeriesMember.objects.count() == 12 and ImageInstance.objects.count() == 12


def test_an_instance_uploaded_before_on_its_own_is_reused_not_duplicated(hospital_a, s3_settings, phantom):
    name, data = phantom.files[0]
    with tenant_context(hospital_a.tenant):
        single = image_ingest(tenant=hospital_a.tenant, data=data, parsed=parse_upload(data, name)).instance
    result = ingest(hospital_a, phantom.files)
    with tenant_context(hospital_a.tenant):
        assert ImageInstance.objects.count() == 12
        assert SeriesMember.objects.filter(series=result.series, instance=single).count() == 1


def test_each_hospital_gets_its_own_copy_and_cannot_see_the_other(hospital_a, hospital_b, s3_settings, phantom):
    a = ingest(hospital_a, phantom.files)
    b = ingest(hospital_b, phantom.files)

    assert a.created and b.created and a.series.id != b.series.id
    with tenant_context(hospital_b.tenant):
        keys = list(ImageInstance.objects.values_list("storage_key", flat=True))
        assert len(keys) == 12 and all(k.startswith(tenant_prefix(hospital_b.tenant.id)) for k in keys)
        assert not Series.objects.filter(id=a.series.id).exists()
        assert not SeriesMember.objects.filter(series_id=a.series.id).exists()
    with tenant_context(hospital_a.tenant):
        assert list(Series.objects.values_list("id", flat=True)) == [a.series.id]
        assert SeriesMember.objects.count() == 12
        # Row-level security below the manager: raw SQL in A's context sees only A's members.
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM studies_seriesmember")
            assert cursor.fetchone()[0] == 12


def test_a_cine_series_records_slice_and_phase_of_every_member(hospital_a, s3_settings):
    cine = cine_mr_phantom(phases=4, slices=3, lv_edv_ml=20.0, lv_esv_ml=10.0, rv_edv_ml=20.0, rv_esv_ml=10.0,
                           rows=96, columns=96, slice_spacing=10.0)
    result = ingest(hospital_a, cine.files, cine=True)
    with tenant_context(hospital_a.tenant):
        members = list(SeriesMember.objects.filter(series=result.series).order_by("position"))
        assert [(m.position, m.phase) for m in members] == [(k, k % 4) for k in range(12)]
        assert [m.location_mm for m in members[::4]] == pytest.approx([0.0, 10.0, 20.0])
        assert result.series.geometry["phases"] == 4


def test_nothing_is_recorded_when_the_object_store_is_down(hospital_a, s3_settings, phantom):
    from tests.fixtures_services import free_port

    s3_settings.S3_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"
    storage._client.cache_clear()
    with pytest.raises(storage.StorageUnavailable):
        ingest(hospital_a, phantom.files)
    with tenant_context(hospital_a.tenant):
        assert Series.objects.count() == 0 and ImageInstance.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_identical_submissions_make_one_series(hospital_a, s3_settings, phantom):
    series = assemble_series(phantom.files)
    barrier = threading.Barrier(3)
    results, errors = [], []

    def submit():
        try:
            with tenant_context(hospital_a.tenant):
                barrier.wait(timeout=30)
                results.append(series_ingest(tenant=hospital_a.tenant, series=series))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert len({r.series.id for r in results}) == 1 and len(results) == 3
    assert sum(r.created for r in results) == 1
    with tenant_context(hospital_a.tenant):
        assert Series.objects.count() == 1
        assert SeriesMember.objects.count() == 12 and ImageInstance.objects.count() == 12
