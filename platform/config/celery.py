"""The Celery application. Tasks are named by their dotted module path and configured from settings."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("mip")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
