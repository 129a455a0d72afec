"""Test settings: the real services (PostgreSQL, RabbitMQ, SeaweedFS, the local model server), made fast.

The test suite's fixtures start a private S3 server and model server on free ports and patch the
corresponding settings; values here are only what differs from development.
"""
import os

os.environ.setdefault("MIP_ENV", "test")

from config.settings import *  # noqa: E402,F403

# A database of the test run's own, so concurrent runs (several checkouts, parallel sessions) never collide.
DATABASES["default"]["TEST"] = {"NAME": f"test_mip_{os.getpid()}"}
# pytest-django creates and migrates the test database as the table owner; tests/conftest.py then reconnects as
# the application role, so every test runs under row-level security exactly as production does.
DATABASES["default"]["USER"] = os.environ.get("MIP_TEST_DB_OWNER", "mip_owner")
TEST_DB_APP_USER = os.environ.get("MIP_TEST_DB_APP_USER", "mip_app")
# Cache keys of the run's own in the shared Redis (rate-limit and lockout counters never leak between runs).
CACHES["default"]["KEY_PREFIX"] = f"test-{os.getpid()}"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only; never outside tests
# A queue of the test run's own, so a developer's running worker never consumes test tasks.
CELERY_TASK_DEFAULT_QUEUE = f"test-inference-{os.getpid()}"
CELERY_URGENT_QUEUE = f"{CELERY_TASK_DEFAULT_QUEUE}-urgent"
INFERENCE_RETRY_BASE_S = 0.2
INFERENCE_RETRY_MAX_S = 1.0
INFERENCE_MAX_RETRIES = 3
MODEL_SERVER_TIMEOUT_S = 10.0
