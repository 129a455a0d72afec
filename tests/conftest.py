"""Shared fixtures: the real services (PostgreSQL, RabbitMQ, a private SeaweedFS S3, the local model
server over gRPC) and two hospitals, `hospital_a` and `hospital_b`, for the cross-tenant cases."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures_modelserver import *  # noqa: F401,F403
from tests.fixtures_services import *  # noqa: F401,F403

SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "dicom"
HAND_DX = SHARED_DATA / "hand" / "hand_dx_left_pa_f.dcm"
CHEST_CR = SHARED_DATA / "pydicom-data" / "RG1_J2KI.dcm"


@pytest.fixture(scope="session")
def django_db_modify_db_settings(postgres_ready):
    """Before pytest-django creates the test database (as the owner role), make sure both roles exist."""
    from scripts import devstack

    devstack.ensure_database_roles()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """After the test database is created and migrated as the owner, run every test as the application role,
    so row-level security applies to the tests exactly as to production; switch back to drop the database."""
    from django.conf import settings
    from django.db import connections

    connection = connections["default"]
    owner = connection.settings_dict["USER"]
    with django_db_blocker.unblock():
        with connection.cursor() as cursor:
            # Only the test database: transactional tests empty the tables with TRUNCATE between tests.
            cursor.execute(f"GRANT TRUNCATE ON ALL TABLES IN SCHEMA public TO {settings.TEST_DB_APP_USER}")
            # ... including the audit events, whose trigger refuses TRUNCATE to every role in production (where
            # the application role has no TRUNCATE at all). UPDATE and DELETE stay refused here too.
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_no_truncate")
        connection.close()
    connection.settings_dict["USER"] = settings.TEST_DB_APP_USER
    yield
    with django_db_blocker.unblock():
        for alias in connections:
            connections[alias].close()
    connection.settings_dict["USER"] = owner


def _clear_client_caches() -> None:
    from inference import tasks
    from studies import storage

    storage._client.cache_clear()
    tasks._model_client.cache_clear()


@pytest.fixture(scope="session")
def platform_settings(s3_server, local_model_server, small_model_repository, broker_ready):
    """Point the platform at the private S3 server and the local model server for the whole session."""
    from django.conf import settings

    settings.S3_ENDPOINT_URL = s3_server.endpoint_url
    settings.S3_ACCESS_KEY = s3_server.access_key
    settings.S3_SECRET_KEY = s3_server.secret_key
    settings.S3_BUCKET = s3_server.bucket
    settings.MODEL_SERVER_URL = f"127.0.0.1:{local_model_server.port}"
    settings.MODEL_SERVER_API = "kserve"
    settings.MODEL_REPOSITORY_DIR = Path(small_model_repository)
    settings.CELERY_BROKER_URL = broker_ready
    _clear_client_caches()
    yield settings
    _delete_test_queue(settings)


def _delete_test_queue(settings) -> None:
    """The run's own queue would otherwise stay in RabbitMQ (durable) with any unconsumed test messages."""
    from config.celery import app

    try:
        with app.connection_for_write() as connection:
            connection.default_channel.queue_delete(settings.CELERY_TASK_DEFAULT_QUEUE)
            connection.default_channel.queue_delete(settings.CELERY_URGENT_QUEUE)
    except Exception:  # the broker may be gone at the end of a fault test run; nothing to clean then
        pass


@pytest.fixture
def model_server_api(platform_settings, request):
    """Select the gRPC API the platform uses for one test (default kserve); restores afterwards."""
    api = getattr(request, "param", "kserve")
    previous = platform_settings.MODEL_SERVER_API
    platform_settings.MODEL_SERVER_API = api
    _clear_client_caches()
    yield api
    platform_settings.MODEL_SERVER_API = previous
    _clear_client_caches()


@dataclass
class Hospital:
    tenant: object
    api_key: str
    api_key_row: object
    user: object
    password: str


def _make_hospital(slug: str, name: str) -> Hospital:
    from tenants import services
    from tenants.models import Membership

    tenant = services.tenant_create(slug=slug, name=name)
    password = f"correct-horse-{slug}-battery"
    user = services.user_create(username=f"rad.{slug}", password=password)
    services.membership_grant(tenant=tenant, user=user, role=Membership.Role.RADIOLOGIST)
    api_key_row, api_key = services.api_key_create(tenant=tenant, name=f"{name} HIS")
    return Hospital(tenant=tenant, api_key=api_key, api_key_row=api_key_row, user=user, password=password)


@pytest.fixture
def hospital_a(db) -> Hospital:
    return _make_hospital("hospital-a", "Hospital A")


@pytest.fixture
def hospital_b(db) -> Hospital:
    return _make_hospital("hospital-b", "Hospital B")


def his_client(hospital: Hospital):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {hospital.api_key}")
    return client


@pytest.fixture
def his_a(hospital_a, platform_settings):
    return his_client(hospital_a)


@pytest.fixture
def his_b(hospital_b, platform_settings):
    return his_client(hospital_b)


@pytest.fixture
def celery_worker(platform_settings, transactional_db):
    """A real Celery worker (in a thread of this process) consuming this test run's own queue on RabbitMQ."""
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    app.conf.broker_url = platform_settings.CELERY_BROKER_URL
    app.conf.task_default_queue = platform_settings.CELERY_TASK_DEFAULT_QUEUE
    with start_worker(app, pool="solo", concurrency=1, perform_ping_check=False, shutdown_timeout=30,
                      queues=[platform_settings.CELERY_TASK_DEFAULT_QUEUE, platform_settings.CELERY_URGENT_QUEUE],
                      loglevel="WARNING") as worker:
        yield worker


def wait_for_status(client, location: str, statuses: set[str], timeout_s: float = 60.0) -> dict:
    """Poll an assessment like an HIS would until it reaches one of `statuses`."""
    deadline = time.monotonic() + timeout_s
    body = {}
    while time.monotonic() < deadline:
        response = client.get(location)
        assert response.status_code == 200, response.content
        body = response.json()
        if body["status"] in statuses:
            return body
        time.sleep(0.1)
    raise AssertionError(f"assessment did not reach {statuses} in {timeout_s}s; last: {body}")
