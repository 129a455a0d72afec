"""Celery discovers `<app>.tasks`; the integration's tasks live beside their code."""
from integrations.hl7v2.tasks import send_oru  # noqa: F401
