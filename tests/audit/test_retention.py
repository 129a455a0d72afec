"""Retention: old events are exported, then removed by the owner-only archive command, and the rest of the chain
still verifies from its signed anchor; the application role cannot archive."""
from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone


def _as_owner():
    import os

    from django.db import connections

    connection = connections["default"]
    previous = connection.settings_dict["USER"]
    connection.close()
    connection.settings_dict["USER"] = os.environ.get("MIP_TEST_DB_OWNER", "mip_owner")
    return connection, previous


def test_archiving_old_events_keeps_the_chain_verifiable(transactional_db, tmp_path):
    from audit.services import audit_event_record
    from audit.verify import chain_verify
    from tenants import services
    from tenants.context import dangerously_operator_access

    hospital = services.tenant_create(slug="archive-h", name="Archive H")  # a chain with nothing else in it

    long_ago = timezone.now() - timedelta(days=4000)
    for i in range(6):
        audit_event_record(event="assessment.read", tenant=hospital, username=f"old{i}",
                           occurred_at=long_ago + timedelta(minutes=i))
    for i in range(3):
        audit_event_record(event="assessment.read", tenant=hospital, username=f"new{i}")
    chain = str(hospital.pk)

    # The application role cannot: it has no DELETE on audit events.
    with pytest.raises(Exception, match="permission denied"):
        call_command("audit_archive", "--tenant", "archive-h", "--destination", str(tmp_path / "refused"),
                     "--older-than-days", "3650")

    connection, previous = _as_owner()
    try:
        call_command("audit_archive", "--tenant", "archive-h", "--destination", str(tmp_path / "archive"),
                     "--older-than-days", "3650")
    finally:
        connection.close()
        connection.settings_dict["USER"] = previous
    files = sorted((tmp_path / "archive").iterdir())
    manifest = json.loads(next(f for f in files if f.name.endswith(".manifest.json")).read_text())
    lines = next(f for f in files if f.name.endswith(".jsonl")).read_bytes()
    assert hashlib.sha256(lines).hexdigest() == manifest["sha256"]
    archived = [json.loads(line) for line in lines.splitlines()]
    assert [e["username"] for e in archived] == [f"old{i}" for i in range(6)]
    with dangerously_operator_access(reason="test"):
        report = chain_verify(chain)
        assert report.ok, report.summary()
        assert report.first_sequence == manifest["last_sequence"] + 1
        from audit.models import AuditEvent

        assert AuditEvent.objects.filter(tenant=hospital, event="audit.archive").count() == 1
        assert sorted(AuditEvent.objects.filter(tenant=hospital, event="assessment.read")
                      .values_list("username", flat=True)) == ["new0", "new1", "new2"]
