"""DICOMweb end to end: dicomweb-client (the real client) over real HTTP against the live server, real files from
/work/shared/data/dicom, real SeaweedFS and PostgreSQL. Store (STOW-RS), search (QIDO-RS), retrieve (WADO-RS)."""
from __future__ import annotations

import copy
import hashlib
import io
from pathlib import Path

import pydicom
import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from dicomweb_client.session_utils import create_session
from pydicom.uid import generate_uid

DATA = Path("/work/shared/data/dicom")
CT = DATA / "highdicom" / "ct_image.dcm"
DX = DATA / "highdicom" / "dx_image.dcm"
HAND = DATA / "hand" / "hand_dx_left_pa_f.dcm"
MR = DATA / "pydicom-data" / "MR2_UNCI.dcm"
SR_DOCUMENT = DATA / "highdicom" / "sr_document.dcm"


def part10(ds: pydicom.Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def as_sent(ds: pydicom.Dataset) -> bytes:
    """The bytes dicomweb-client puts on the wire for a data set (its store_instances encodes with dcmwrite)."""
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds)
    return buffer.getvalue()


def _client(base_url: str, api_key: str) -> DICOMwebClient:
    session = create_session()
    session.headers["Authorization"] = f"Api-Key {api_key}"
    # Django's test server reads only Content-Length bodies; a chunk size above the largest request keeps the
    # client from switching to chunked transfer encoding (which gunicorn, the production server, de-chunks).
    return DICOMwebClient(url=f"{base_url}/dicomweb", session=session, chunk_size=64 * 1024 * 1024)


@pytest.fixture
def pacs_a(live_server, hospital_a, platform_settings):
    client = _client(live_server.url, hospital_a.api_key)
    yield client
    # A kept-alive connection keeps its live-server thread, and that thread's database connection, open.
    client._session.close()


@pytest.fixture
def pacs_b(live_server, hospital_b, platform_settings):
    client = _client(live_server.url, hospital_b.api_key)
    yield client
    client._session.close()


def _referenced(response_ds) -> list[str]:
    return [item.ReferencedSOPInstanceUID for item in response_ds.get("ReferencedSOPSequence", [])]


def _failed(response_ds) -> dict[str, int]:
    return {item.get("ReferencedSOPInstanceUID", ""): int(item.FailureReason)
            for item in response_ds.get("FailedSOPSequence", [])}


def _raw_instance(client: DICOMwebClient, study: str, series: str, sop: str) -> bytes:
    """The instance's bytes exactly as served, split out of the multipart body by the client's own decoder."""
    url = f"{client.base_url}/studies/{study}/series/{series}/instances/{sop}"
    response = client._session.get(url, headers={"Accept": 'multipart/related; type="application/dicom"; '
                                                           "transfer-syntax=*"})
    assert response.status_code == 200, response.content[:300]
    parts = list(client._decode_multipart_message(response, stream=False))
    assert len(parts) == 1
    return parts[0]


def test_a_pacs_stores_searches_and_retrieves_byte_identical_instances(pacs_a):
    files = {path: pydicom.dcmread(path) for path in (CT, DX, HAND)}
    stored = pacs_a.store_instances(list(files.values()))
    assert sorted(_referenced(stored)) == sorted(ds.SOPInstanceUID for ds in files.values())
    assert "FailedSOPSequence" not in stored

    # Sending the same instance again is not a failure.
    again = pacs_a.store_instances([files[CT]])
    assert _referenced(again) == [files[CT].SOPInstanceUID]

    studies = pacs_a.search_for_studies()
    assert {s["0020000D"]["Value"][0] for s in studies} == {ds.StudyInstanceUID for ds in files.values()}
    ct = files[CT]
    only_ct = pacs_a.search_for_studies(search_filters={"ModalitiesInStudy": "CT"})
    assert [s["0020000D"]["Value"][0] for s in only_ct] == [ct.StudyInstanceUID]
    assert only_ct[0]["00080061"]["Value"] == ["CT"]
    assert only_ct[0]["00201208"]["Value"] == [1]
    in_2004 = pacs_a.search_for_studies(search_filters={"StudyDate": "20040101-20041231"})
    assert [s["0020000D"]["Value"][0] for s in in_2004] == [ct.StudyInstanceUID]
    assert pacs_a.search_for_studies(search_filters={"StudyDate": "-19991231"}) == []
    by_uid = pacs_a.search_for_studies(search_filters={"StudyInstanceUID": files[DX].StudyInstanceUID})
    assert len(by_uid) == 1 and by_uid[0]["00080020"]["Value"] == [files[DX].StudyDate]
    if files[DX].get("AccessionNumber"):
        by_accession = pacs_a.search_for_studies(search_filters={"AccessionNumber": files[DX].AccessionNumber})
        assert [s["0020000D"]["Value"][0] for s in by_accession] == [files[DX].StudyInstanceUID]
    first_two = pacs_a.search_for_studies(limit=2)
    rest = pacs_a.search_for_studies(offset=2)
    assert len(first_two) == 2 and len(rest) == 1
    assert {s["0020000D"]["Value"][0] for s in first_two + rest} == {ds.StudyInstanceUID for ds in files.values()}

    series = pacs_a.search_for_series(ct.StudyInstanceUID)
    assert [s["0020000E"]["Value"][0] for s in series] == [ct.SeriesInstanceUID]
    assert series[0]["00080060"]["Value"] == ["CT"]
    dx_series = pacs_a.search_for_series(search_filters={"Modality": "DX"})
    assert {s["0020000E"]["Value"][0] for s in dx_series} == {files[DX].SeriesInstanceUID,
                                                              files[HAND].SeriesInstanceUID}
    instances = pacs_a.search_for_instances(ct.StudyInstanceUID, ct.SeriesInstanceUID)
    assert [i["00080018"]["Value"][0] for i in instances] == [ct.SOPInstanceUID]
    assert instances[0]["00080016"]["Value"] == [ct.SOPClassUID]
    paged = pacs_a.search_for_instances(limit=2) + pacs_a.search_for_instances(limit=2, offset=2)
    assert sorted(i["00080018"]["Value"][0] for i in paged) == sorted(ds.SOPInstanceUID for ds in files.values())
    paged_series = pacs_a.search_for_series(limit=1, offset=1)
    assert len(paged_series) == 1 and paged_series[0]["00201209"]["Value"] == [1]
    found = pacs_a.search_for_instances(search_filters={"SOPInstanceUID": files[HAND].SOPInstanceUID})
    assert [i["0020000D"]["Value"][0] for i in found] == [files[HAND].StudyInstanceUID]

    for ds in files.values():
        served = _raw_instance(pacs_a, ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
        assert hashlib.sha256(served).hexdigest() == hashlib.sha256(as_sent(ds)).hexdigest()
    retrieved = pacs_a.retrieve_instance(ct.StudyInstanceUID, ct.SeriesInstanceUID, ct.SOPInstanceUID)
    assert retrieved.SOPInstanceUID == ct.SOPInstanceUID and retrieved.PixelData == ct.PixelData
    study = pacs_a.retrieve_study(files[HAND].StudyInstanceUID)
    assert [ds.SOPInstanceUID for ds in study] == [files[HAND].SOPInstanceUID]
    metadata = pacs_a.retrieve_series_metadata(ct.StudyInstanceUID, ct.SeriesInstanceUID)
    assert metadata[0]["00080018"]["Value"] == [ct.SOPInstanceUID] and "7FE00010" not in metadata[0]


def test_partly_stored_requests_answer_202_with_reasons_and_none_stored_answers_409(pacs_a):
    good = pydicom.dcmread(MR)
    report = pydicom.dcmread(SR_DOCUMENT)  # a structured report: no pixels, a SOP class the platform does not store
    truncated = copy.deepcopy(pydicom.dcmread(DX))
    truncated.SOPInstanceUID = generate_uid()
    truncated.PixelData = truncated.PixelData[: len(truncated.PixelData) // 3]
    nameless = copy.deepcopy(pydicom.dcmread(CT))
    del nameless.SOPInstanceUID
    nameless.file_meta.MediaStorageSOPInstanceUID = generate_uid()

    partly = pacs_a.store_instances([good, report, truncated])
    assert _referenced(partly) == [good.SOPInstanceUID]
    assert _failed(partly) == {report.SOPInstanceUID: 0x0122, truncated.SOPInstanceUID: 0xC000}
    assert partly.RetrieveURL.endswith(f"/dicomweb/studies/{good.StudyInstanceUID}")

    with pytest.raises(requests.HTTPError) as refused:
        pacs_a.store_instances([report, truncated])
    assert refused.value.response.status_code == 409
    body = refused.value.response.json()
    assert "00081199" not in body
    assert sorted(item["00081197"]["Value"][0] for item in body["00081198"]["Value"]) == [0x0122, 0xC000]

    # Into a study the hospital holds: another study's instance does not match (0xA900), nor one without UIDs.
    other_study = pydicom.dcmread(CT)
    with pytest.raises(requests.HTTPError) as mismatch:
        pacs_a.store_instances([other_study, nameless], study_instance_uid=good.StudyInstanceUID)
    assert mismatch.value.response.status_code == 409
    reasons = [item["00081197"]["Value"][0] for item in mismatch.value.response.json()["00081198"]["Value"]]
    assert reasons == [0xA900, 0xA900]

    # Nothing failed was stored: QIDO sees only the MR.
    assert [i["00080018"]["Value"][0] for i in pacs_a.search_for_instances()] == [good.SOPInstanceUID]


def test_wrong_content_type_unknown_objects_and_oversized_requests_are_refused(pacs_a, hospital_a, settings):
    url = f"{pacs_a.base_url}/studies"
    auth = {"Authorization": f"Api-Key {hospital_a.api_key}"}
    as_json = requests.post(url, data=b"{}", headers={**auth, "Content-Type": "application/json"})
    assert as_json.status_code == 415 and as_json.json()["code"] == "unsupported_media_type"
    no_key = requests.get(url)
    assert no_key.status_code == 401
    unknown = generate_uid()
    assert requests.get(f"{url}/{unknown}", headers=auth).status_code == 404
    assert requests.get(f"{url}/{unknown}/series", headers=auth).json()["code"] == "study_not_found"
    assert requests.get(url, params={"PatientID": "x"}, headers=auth).json()["code"] == "invalid_query"
    assert requests.get(url, params={"StudyDate": "2004"}, headers=auth).status_code == 400
    stow_type = 'multipart/related; type="application/dicom"; boundary=b1'
    garbage = requests.post(url, data=b"not a multipart body", headers={**auth, "Content-Type": stow_type})
    assert garbage.status_code == 400 and garbage.json()["code"] == "malformed_multipart"
    empty = requests.post(url, data=b"--b1--\r\n", headers={**auth, "Content-Type": stow_type})
    assert empty.status_code == 400 and empty.json()["code"] == "no_instances"

    ct = pydicom.dcmread(CT)
    pacs_a.store_instances([ct])
    instance_url = f"{url}/{ct.StudyInstanceUID}/series/{ct.SeriesInstanceUID}/instances/{ct.SOPInstanceUID}"
    as_json = requests.get(instance_url, headers={**auth, "Accept": "application/json"})
    assert as_json.status_code == 406 and as_json.json()["code"] == "not_acceptable"
    other_syntax = requests.get(instance_url, headers={
        **auth, "Accept": 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50'})
    assert other_syntax.status_code == 406 and other_syntax.json()["code"] == "transfer_syntax_unavailable"
    stored_syntax = requests.get(instance_url, headers={
        **auth, "Accept": f'multipart/related; type="application/dicom"; transfer-syntax={ct.file_meta.TransferSyntaxUID}'})
    assert stored_syntax.status_code == 200
    assert requests.delete(instance_url, headers=auth).status_code == 405

    settings.DICOMWEB_MAX_REQUEST_BYTES = 1000
    too_big = requests.post(url, data=HAND.read_bytes()[:5000], headers={
        **auth, "Content-Type": 'multipart/related; type="application/dicom"; boundary=x'})
    assert too_big.status_code == 413 and too_big.json()["code"] == "request_too_large"


def test_hospitals_see_only_their_own_studies(pacs_a, pacs_b):
    ct = pydicom.dcmread(CT)
    pacs_b.store_instances([ct])
    assert pacs_a.search_for_studies() == []
    assert pacs_a.search_for_instances(search_filters={"SOPInstanceUID": ct.SOPInstanceUID}) == []
    with pytest.raises(requests.HTTPError) as missing:
        pacs_a.retrieve_instance(ct.StudyInstanceUID, ct.SeriesInstanceUID, ct.SOPInstanceUID)
    assert missing.value.response.status_code == 404
    assert len(pacs_b.search_for_studies()) == 1


def test_a_generated_structured_report_is_found_and_retrieved_with_its_study(pacs_a, hospital_a):
    import highdicom as hd

    from inference.models import Assessment, AssessmentArtifact
    from studies import storage
    from studies.models import ImageInstance
    from tenants.context import tenant_context
    from tenants.storage_keys import derived_object_key

    ct = pydicom.dcmread(CT)
    pacs_a.store_instances([ct])
    sr = _structured_report(ct)
    data = part10(sr)
    tenant = hospital_a.tenant
    with tenant_context(tenant):
        instance = ImageInstance.objects.get(sop_instance_uid=ct.SOPInstanceUID)
        assessment = Assessment.objects.create(tenant=tenant, instance=instance, model_name="ct_anatomy",
                                               model_version=1, status=Assessment.Status.SUCCEEDED)
        key = derived_object_key(tenant_id=tenant.id, assessment_id=assessment.id, name="report-sr.dcm")
        sha256 = hashlib.sha256(data).hexdigest()
        storage.put_image(key=key, data=data, content_type="application/dicom", sha256=sha256)
        AssessmentArtifact.objects.create(tenant=tenant, assessment=assessment, kind="dicom_sr",
                                          name="report-sr.dcm", storage_key=key, sha256=sha256,
                                          size_bytes=len(data), content_type="application/dicom",
                                          sop_instance_uid=sr.SOPInstanceUID)

    studies = pacs_a.search_for_studies(search_filters={"ModalitiesInStudy": "SR"})
    assert [s["0020000D"]["Value"][0] for s in studies] == [ct.StudyInstanceUID]
    assert studies[0]["00080061"]["Value"] == ["CT", "SR"]
    series = pacs_a.search_for_series(ct.StudyInstanceUID)
    assert {s["0020000E"]["Value"][0] for s in series} == {ct.SeriesInstanceUID, sr.SeriesInstanceUID}
    found = pacs_a.search_for_instances(ct.StudyInstanceUID, sr.SeriesInstanceUID)
    assert [i["00080018"]["Value"][0] for i in found] == [sr.SOPInstanceUID]
    assert found[0]["00080016"]["Value"] == [sr.SOPClassUID]

    served = _raw_instance(pacs_a, ct.StudyInstanceUID, sr.SeriesInstanceUID, sr.SOPInstanceUID)
    assert served == data
    whole_study = pacs_a.retrieve_study(ct.StudyInstanceUID)
    assert sorted(ds.SOPInstanceUID for ds in whole_study) == sorted([ct.SOPInstanceUID, sr.SOPInstanceUID])
    assert hd.sr.Comprehensive3DSR.from_dataset(
        next(ds for ds in whole_study if ds.Modality == "SR")).SOPInstanceUID == sr.SOPInstanceUID


def _structured_report(evidence: pydicom.Dataset):
    """A TID 1500 measurement report on `evidence`, as the platform's result objects are (highdicom)."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    observer = hd.sr.ObservationContext(observer_device_context=hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(uid=hd.UID(), name="MIP")))
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier="assessment"),
        measurements=[hd.sr.Measurement(name=hd.sr.CodedConcept("MIP001", "99MIP", "Test measurement"),
                                        value=12.5, unit=hd.sr.CodedConcept("mm", "UCUM", "millimeter"))])
    report = hd.sr.MeasurementReport(observation_context=observer,
                                     procedure_reported=hd.sr.CodedConcept("MIP000", "99MIP", "AI assessment"),
                                     imaging_measurements=[group])
    return hd.sr.Comprehensive3DSR(evidence=[evidence], content=report[0], series_instance_uid=hd.UID(),
                                   series_number=99, sop_instance_uid=hd.UID(), instance_number=1,
                                   manufacturer="MIP")


@pytest.fixture
def gunicorn_url(transactional_db, platform_settings):
    """The platform under gunicorn (the production server), on this test's database and object store."""
    import os
    import socket
    import subprocess
    import sys
    import time

    from django.db import connection

    db = connection.settings_dict
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "MIP_ENV": "test", "DJANGO_SETTINGS_MODULE": "config.settings",
           "MIP_DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
           "MIP_S3_ENDPOINT_URL": platform_settings.S3_ENDPOINT_URL, "MIP_S3_ACCESS_KEY": platform_settings.S3_ACCESS_KEY,
           "MIP_S3_SECRET_KEY": platform_settings.S3_SECRET_KEY, "MIP_S3_BUCKET": platform_settings.S3_BUCKET,
           "MIP_CACHE_KEY_PREFIX": f"gunicorn-test-{os.getpid()}"}
    if db.get("PASSWORD"):
        env["MIP_DATABASE_URL"] = env["MIP_DATABASE_URL"].replace(f"{db['USER']}@", f"{db['USER']}:{db['PASSWORD']}@")
    platform_dir = Path(__file__).resolve().parents[2] / "platform"
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}",
                               "--workers", "1", "--timeout", "60", "--graceful-timeout", "2"], cwd=platform_dir, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert server.poll() is None, server.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "gunicorn did not come up"
            time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_large_study_sent_with_chunked_transfer_encoding_is_stored_under_gunicorn(gunicorn_url, hospital_a):
    session = create_session()
    session.headers["Authorization"] = f"Api-Key {hospital_a.api_key}"
    client = DICOMwebClient(url=f"{gunicorn_url}/dicomweb", session=session)  # default 1 MB chunks
    hand, mr = pydicom.dcmread(HAND), pydicom.dcmread(MR)
    assert len(as_sent(hand)) + len(as_sent(mr)) > 4 * client._chunk_size  # so the client sends it chunked
    try:
        stored = client.store_instances([hand, mr])
        assert sorted(_referenced(stored)) == sorted([hand.SOPInstanceUID, mr.SOPInstanceUID])
        served = _raw_instance(client, hand.StudyInstanceUID, hand.SeriesInstanceUID, hand.SOPInstanceUID)
        assert served == as_sent(hand)
    finally:
        session.close()
