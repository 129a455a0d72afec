"""Helpers of the audit tests: read every event under operator access, and an owner-role connection."""
from __future__ import annotations

import contextlib


def all_events(after_id: int = 0) -> list:
    from audit.models import AuditEvent
    from tenants.context import dangerously_operator_access

    with dangerously_operator_access(reason="audit tests read every chain"):
        return list(AuditEvent.objects.filter(id__gt=after_id).order_by("id"))


def last_event_id() -> int:
    events = all_events()
    return events[-1].id if events else 0


@contextlib.contextmanager
def owner_connection():
    """A psycopg2 connection to the test database as the table owner (what a DBA could do), operator context on."""
    import psycopg2
    from django.conf import settings
    from django.db import connection

    params = connection.settings_dict
    owner = settings.DATABASES["default"].get("TEST_OWNER") or __import__("os").environ.get(
        "MIP_TEST_DB_OWNER", "mip_owner")
    conn = psycopg2.connect(host=params["HOST"] or "127.0.0.1", port=params["PORT"] or 5432, user=owner,
                            password=params.get("PASSWORD") or None, dbname=params["NAME"])
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT set_config('app.operator', 'on', false)")
        conn.commit()
        yield conn
    finally:
        conn.close()


def png_upload(seed: int) -> io.BytesIO:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.effect_noise((640, 800), 30 + seed).save(buffer, format="PNG")
    upload = io.BytesIO(buffer.getvalue())
    upload.name = f"hand-{seed}.png"
    return upload


def two_step_client(hospital):
    """A person with two-step sign-in on, half-way through signing in (password accepted, code pending)."""
    from django.test import Client

    from tests.accounts._support import code_at, enrol, post_password

    client = Client()
    client.force_login(hospital.user)
    secret = enrol(client)
    client.logout()
    assert post_password(client, hospital.user.username, hospital.password).status_code == 302
    return client, code_at(secret)
