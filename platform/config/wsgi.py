"""WSGI entry point (gunicorn config.wsgi). platform/ and the repository root must be on sys.path."""
import os
import sys
from pathlib import Path

_source_root = Path(__file__).resolve().parent.parent
for _path in (str(_source_root.parent), str(_source_root)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from django.core.wsgi import get_wsgi_application  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()
