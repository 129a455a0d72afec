"""Django settings for the medical-imaging platform.

Every value comes from an environment variable with the MIP_ prefix (parsed in config/env.py).
MIP_ENV selects the profile: `development` (default; local dev stack defaults), `test`, or
`production` (every secret must be given; nothing falls back to a development value).
"""
from __future__ import annotations

from pathlib import Path

from config.env import (
    env_bool,
    env_float,
    env_int,
    env_list,
    env_required,
    env_str,
    parse_database_url,
)

SOURCE_ROOT = Path(__file__).resolve().parent.parent
REPO_ROOT = SOURCE_ROOT.parent

ENVIRONMENT = env_str("ENV", "development")
IS_DEV = ENVIRONMENT in {"development", "test"}

# ---------------------------------------------------------------------------
# Core
# ---------------------------------------------------------------------------
SECRET_KEY = env_required("SECRET_KEY", dev_default="dev-only-insecure-secret-key-do-not-deploy", is_dev=IS_DEV)
# Encrypts secrets kept in the database (TOTP seeds). Separate from SECRET_KEY so either can rotate alone.
FIELD_ENCRYPTION_KEY = env_required("FIELD_ENCRYPTION_KEY", dev_default="dev-only-field-encryption-key",
                                    is_dev=IS_DEV)
FIELD_ENCRYPTION_KEY_FALLBACKS = env_list("FIELD_ENCRYPTION_KEY_FALLBACKS", [])
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"] if IS_DEV else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# Public base URL of the web app, used in Location headers of API answers and printed portal links.
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "tenants",
    "accounts",
    "studies",
    "inference",
    "registry",
    "audit",
    "billing",
    "api",
    "reports",
    "webhooks",
    "reviews",
    "integrations",
    "portal",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Portal static files (CSS, JS) served by the web app itself: no CDN, no separate file server.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "tenants.middleware.PortalTenantMiddleware",
    # The portal's language: the signed-in person's stored choice, else the browser's (English, Simplified Chinese).
    "portal.middleware.PortalLanguageMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "portal.context_processors.portal",
            ],
        },
    },
]

# ---------------------------------------------------------------------------
# Database
# ---------------------------------------------------------------------------
# The web app and workers connect as the application role (no table ownership, no BYPASSRLS), so PostgreSQL
# row-level security applies to them. Migrations run with MIP_DATABASE_URL set to the table owner's URL
# (MIP_MIGRATION_DATABASE_URL in scripts/run_platform.py and the Helm migrations hook).
DATABASES = {
    "default": parse_database_url(
        env_required("DATABASE_URL", dev_default="postgres://mip_app@127.0.0.1:5432/mip", is_dev=IS_DEV)
    )
}
DATABASES["default"]["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", 60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Row-level security settings travel with each statement (tenants/rls.py); server-side cursors would wrap the
# statement in DECLARE, which cannot carry them. Also required behind PgBouncer in transaction mode.
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
# The role the application connects as; granted DML on every table after each migrate.
DB_APP_ROLE = env_str("DB_APP_ROLE", "mip_app")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# ---------------------------------------------------------------------------
# Auth, sessions, security
# ---------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "portal:login"
LOGIN_REDIRECT_URL = "portal:assessment-list"
LOGOUT_REDIRECT_URL = "portal:login"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not IS_DEV)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env_str("STATIC_ROOT", str(REPO_ROOT / ".run" / "static"))

# ---------------------------------------------------------------------------
# Portal: static files (WhiteNoise), languages, password-reset e-mail
# ---------------------------------------------------------------------------
# Hashed, compressed file names from `collectstatic` (the Dockerfile and scripts/run_platform.py run it); the test
# profile serves straight from the apps' static/ folders, so tests need no collectstatic step.
STATIC_MANIFEST = env_bool("STATIC_MANIFEST", ENVIRONMENT != "test")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage" if STATIC_MANIFEST
                    else "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = not STATIC_MANIFEST
if not STATIC_MANIFEST:
    STATIC_ROOT = None  # served straight from the apps' static/ folders; there is no collected directory
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [SOURCE_ROOT / "portal" / "locale"]
# Password-reset mail: console in development (the link is printed), SMTP when MIP_EMAIL_HOST is set.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend" if env_str("EMAIL_HOST", "")
                        else "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "imaging-portal@localhost")
# How often the worklist asks for status changes (milliseconds).
PORTAL_POLL_INTERVAL_MS = env_int("PORTAL_POLL_INTERVAL_MS", 3000)

# ---------------------------------------------------------------------------
# Shared store (Redis): rate limits and sign-in lockout counters must agree across web pods.
# ---------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0" if IS_DEV else None)
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "mip"),
        "TIMEOUT": 300,
    }
}
# Requests per minute: per API key, and per hospital across all its keys and people.
RATE_LIMIT_PER_KEY_PER_MINUTE = env_int("RATE_LIMIT_PER_KEY_PER_MINUTE", 600)
RATE_LIMIT_PER_TENANT_PER_MINUTE = env_int("RATE_LIMIT_PER_TENANT_PER_MINUTE", 3000)
# Sign-in lockout: this many failures for one username within the window lock it for the lockout time.
LOGIN_MAX_FAILURES = env_int("LOGIN_MAX_FAILURES", 5)
LOGIN_FAILURE_WINDOW_S = env_int("LOGIN_FAILURE_WINDOW_S", 900)
LOGIN_LOCKOUT_S = env_int("LOGIN_LOCKOUT_S", 900)
# Per client address the limit is higher: a hospital often signs in from one shared address.
LOGIN_MAX_FAILURES_PER_IP = env_int("LOGIN_MAX_FAILURES_PER_IP", 10 * LOGIN_MAX_FAILURES)
# How long the password-passed, code-pending half of a two-step sign-in stays valid.
LOGIN_SECOND_FACTOR_TTL_S = env_int("LOGIN_SECOND_FACTOR_TTL_S", 300)

# ---------------------------------------------------------------------------
# Uploads
# ---------------------------------------------------------------------------
# Largest accepted upload. A hand radiograph is 2-30 MB; larger files are refused with 413 before parsing.
MAX_UPLOAD_BYTES = env_int("MAX_UPLOAD_BYTES", 64 * 1024 * 1024)
# Spool uploads to disk above 2.5 MB so a burst of large uploads does not exhaust web-pod memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

# ---------------------------------------------------------------------------
# Object storage (S3-compatible)
# ---------------------------------------------------------------------------
S3_ENDPOINT_URL = env_str("S3_ENDPOINT_URL", "http://127.0.0.1:8333" if IS_DEV else None)
S3_REGION = env_str("S3_REGION", "us-east-1")
S3_ACCESS_KEY = env_required("S3_ACCESS_KEY", dev_default="dev-access-key", is_dev=IS_DEV)
S3_SECRET_KEY = env_required("S3_SECRET_KEY", dev_default="dev-secret-key", is_dev=IS_DEV)
S3_BUCKET = env_str("S3_BUCKET", "mip-studies")
# Presigned download URLs: the endpoint clients reach (may differ from the internal one) and their lifetime.
S3_PUBLIC_ENDPOINT_URL = env_str("S3_PUBLIC_ENDPOINT_URL", None)
PRESIGNED_URL_TTL_S = env_int("PRESIGNED_URL_TTL_S", 60)
# Server-side encryption for every stored object: "AES256" (SSE-S3) or "" to leave it to the bucket policy.
S3_SERVER_SIDE_ENCRYPTION = env_str("S3_SSE", "AES256")

# ---------------------------------------------------------------------------
# Model server (OpenVINO Model Server or the local development server)
# ---------------------------------------------------------------------------
# "kserve" (KServe v2 gRPC, OVMS 2026.3 and newer) or "tfs" (TensorFlow-Serving gRPC via ovmsclient,
# OVMS 2026.2.x and older).
MODEL_SERVER_API = env_str("MODEL_SERVER_API", "kserve")
MODEL_SERVER_URL = env_str("MODEL_SERVER_URL", "127.0.0.1:9000")
MODEL_SERVER_TIMEOUT_S = env_float("MODEL_SERVER_TIMEOUT_S", 30.0)
# Where the platform reads model cards (precision, demo flag, checksums) for the versions it requests.
MODEL_REPOSITORY_DIR = Path(env_str("MODEL_REPOSITORY_DIR", str(REPO_ROOT / "model_repository")))
# The version of each model that answers new assessments before any version is registered (a fresh install;
# afterwards the registry and its per-hospital rollout decide), e.g. "bone_age=1". Every model of the catalogue.
MODEL_VERSIONS = dict(
    item.split("=", 1) for item in env_list("MODEL_VERSIONS", [
        "bone_age=1", "ct_anatomy=1", "lung_segmentation=1", "nodule_candidates=1", "nodule_fp_reduction=1",
        "cardiac_segmentation=1", "mammography_detection=1"]) if "=" in item
)

# Retries of transient model-server failures: exponential backoff from INFERENCE_RETRY_BASE_S,
# capped at INFERENCE_RETRY_MAX_S per wait, at most INFERENCE_MAX_RETRIES retries. The defaults give a
# retry window of about 5 minutes before an assessment fails with `model_server_unavailable`.
INFERENCE_MAX_RETRIES = env_int("INFERENCE_MAX_RETRIES", 8)
INFERENCE_RETRY_BASE_S = env_float("INFERENCE_RETRY_BASE_S", 2.0)
INFERENCE_RETRY_MAX_S = env_float("INFERENCE_RETRY_MAX_S", 60.0)

# ---------------------------------------------------------------------------
# Celery
# ---------------------------------------------------------------------------
CELERY_BROKER_URL = env_required("BROKER_URL", dev_default="amqp://guest:guest@127.0.0.1:5672//", is_dev=IS_DEV)
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "inference")
# Urgent submissions (and their retries) go here; dedicated workers consume it (`make run` and the Helm chart's
# worker-urgent deployment), so routine backlog can never delay urgent work.
CELERY_URGENT_QUEUE = env_str("CELERY_URGENT_QUEUE", f"{CELERY_TASK_DEFAULT_QUEUE}-urgent")
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_BACKEND = None  # outcomes live in PostgreSQL, never in a result backend
CELERY_TASK_IGNORE_RESULT = True
# Ack after the task finishes, and requeue if the worker dies mid-task, so no assessment is lost.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("TASK_SOFT_TIME_LIMIT_S", 300)
CELERY_TASK_TIME_LIMIT = env_int("TASK_TIME_LIMIT_S", 360)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing must not hang a web request for long when the broker is down; the assessment stays queued
# and the requeue sweep (inference.tasks.requeue_stale_assessments) publishes it later.
CELERY_BROKER_TRANSPORT_OPTIONS = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}
CELERY_BEAT_SCHEDULE = {
    "requeue-stale-assessments": {
        "task": "inference.tasks.requeue_stale_assessments",
        "schedule": 60.0,
    },
}
# Assessments still `queued` this long after submission are published again (a lost publish or message).
REQUEUE_STALE_AFTER_S = env_int("REQUEUE_STALE_AFTER_S", 120)

# ---------------------------------------------------------------------------
# Billing
# ---------------------------------------------------------------------------
# billing.tasks.close_month closes every completed calendar month (UTC) not yet invoiced, for every hospital
# with a plan. It runs daily at MIP_BILLING_CLOSE_HOUR_UTC:MIP_BILLING_CLOSE_MINUTE_UTC (default 02:15 UTC);
# re-running it changes nothing, so a missed or repeated run is harmless.
BILLING_CLOSE_HOUR_UTC = env_int("BILLING_CLOSE_HOUR_UTC", 2)
BILLING_CLOSE_MINUTE_UTC = env_int("BILLING_CLOSE_MINUTE_UTC", 15)
# Who issued invoices, as printed on them and in exports.
BILLING_ISSUER_NAME = env_str("BILLING_ISSUER_NAME", "Imaging AI platform")


def _billing_close_schedule():
    from celery.schedules import crontab

    return crontab(minute=BILLING_CLOSE_MINUTE_UTC, hour=BILLING_CLOSE_HOUR_UTC)


CELERY_BEAT_SCHEDULE["billing-close-month"] = {
    "task": "billing.tasks.close_month",
    "schedule": _billing_close_schedule(),
}

# ---------------------------------------------------------------------------
# Audit
# ---------------------------------------------------------------------------
# Signs each audit chain's head (HMAC-SHA256) and keys the patient pseudonyms in audit events. Kept outside the
# database on purpose: whoever can rewrite audit rows must not also be able to re-sign the chain.
AUDIT_SIGNING_KEY = env_required("AUDIT_SIGNING_KEY", dev_default="dev-only-audit-signing-key", is_dev=IS_DEV)
# Events older than this may be archived (exported, then removed) by `audit_archive`; the chain stays verifiable.
AUDIT_RETENTION_DAYS = env_int("AUDIT_RETENTION_DAYS", 3650)

# ---------------------------------------------------------------------------
# Webhooks and e-mail notifications (platform/webhooks, docs/webhooks.md)
# ---------------------------------------------------------------------------
# One attempt: connect within WEBHOOK_CONNECT_TIMEOUT_S, the whole answer within WEBHOOK_TIMEOUT_S.
WEBHOOK_CONNECT_TIMEOUT_S = env_float("WEBHOOK_CONNECT_TIMEOUT_S", 3.0)
WEBHOOK_TIMEOUT_S = env_float("WEBHOOK_TIMEOUT_S", 10.0)
# Undelivered events are retried for WEBHOOK_RETRY_WINDOW_S (a day), waiting WEBHOOK_RETRY_BASE_S doubled after
# each failure up to WEBHOOK_RETRY_MAX_S (±20% jitter), then given up (replayable).
WEBHOOK_RETRY_WINDOW_S = env_int("WEBHOOK_RETRY_WINDOW_S", 86400)
WEBHOOK_RETRY_BASE_S = env_float("WEBHOOK_RETRY_BASE_S", 30.0)
WEBHOOK_RETRY_MAX_S = env_float("WEBHOOK_RETRY_MAX_S", 3600.0)
# Development and tests only (forced off in production): deliver to this machine (http allowed there) and to
# private networks. Production delivers over https to public addresses only.
WEBHOOK_ALLOW_LOOPBACK = IS_DEV and env_bool("WEBHOOK_ALLOW_LOOPBACK", True)
WEBHOOK_ALLOW_PRIVATE_NETWORKS = IS_DEV and env_bool("WEBHOOK_ALLOW_PRIVATE_NETWORKS", False)
# The Celery queue of delivery and e-mail tasks ("" = the default queue); a slow HIS must not hold up inference
# workers, so production gives webhooks their own queue and worker.
WEBHOOK_QUEUE = env_str("WEBHOOK_QUEUE", "")
CELERY_BEAT_SCHEDULE["webhooks-sweep-deliveries"] = {
    "task": "webhooks.tasks.sweep_deliveries",
    "schedule": env_float("WEBHOOK_SWEEP_INTERVAL_S", 30.0),
}
# Critical-finding e-mails. Development prints them on the console; production sends through SMTP.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend" if IS_DEV
                        else "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT_S", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Imaging AI platform <noreply@localhost>")

# ---------------------------------------------------------------------------
# REST framework
# ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "EXCEPTION_HANDLER": "api.problems.problem_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.JSONParser",
    ],
    "UNAUTHENTICATED_USER": None,
}

# ---------------------------------------------------------------------------
# Logging: structured enough to operate, never patient data (no names, IDs, dates, pixel values).
# ---------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        # pydicom warns with tag values of malformed files; those can include patient data.
        "pydicom": {"level": "ERROR"},
    },
}

# ---------------------------------------------------------------------------
# Integrations: DICOMweb and HL7 v2 (platform/integrations/, docs/dicomweb.md, docs/hl7.md)
# ---------------------------------------------------------------------------
# Largest STOW-RS request body (all its instances together); each instance is also held to MAX_UPLOAD_BYTES.
DICOMWEB_MAX_REQUEST_BYTES = env_int("DICOMWEB_MAX_REQUEST_BYTES", 512 * 1024 * 1024)
# MSH-3 of ORU^R01 messages: the platform as the sending application (MSH-4, the facility, is per hospital).
HL7_SENDING_APPLICATION = env_str("HL7_SENDING_APPLICATION", "MIP")
# MLLP delivery: seconds to connect and to wait for the ACK; retries with exponential backoff.
HL7_MLLP_TIMEOUT_S = env_float("HL7_MLLP_TIMEOUT_S", 10.0)
HL7_MAX_RETRIES = env_int("HL7_MAX_RETRIES", 6)
HL7_RETRY_BASE_S = env_float("HL7_RETRY_BASE_S", 10.0)
HL7_RETRY_MAX_S = env_float("HL7_RETRY_MAX_S", 600.0)

# ---------------------------------------------------------------------------
# API contract (issue 9): the OpenAPI document, its reference page, and Idempotency-Key on POST
# ---------------------------------------------------------------------------
# drf-spectacular generates the OpenAPI 3 document from the views (api/openapi.py holds the shared pieces); the
# sidecar package carries the Swagger UI files, served by the app itself (api/docs_views.py), never a CDN.
INSTALLED_APPS += ["drf_spectacular", "drf_spectacular_sidecar"]
REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"] = "api.openapi.PlatformAutoSchema"
SPECTACULAR_SETTINGS = {
    "TITLE": "Medical-imaging AI platform: HIS API",
    "DESCRIPTION": "Submit images for assessment, poll results, manage API keys, read usage, invoices and the "
                   "audit trail. Errors are RFC 9457 problem documents with a stable `code`. See docs/api.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The document and the reference page are public: they describe the contract, not any hospital's data.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "PREPROCESSING_HOOKS": ["api.openapi.only_api_v1"],
    # Enums stay inline (no postprocess_schema_enums): each problem's `code` enum is that operation's own list.
    "POSTPROCESSING_HOOKS": ["api.openapi.add_info"],
    "COMPONENT_SPLIT_REQUEST": True,
    "SORT_OPERATIONS": False,
    "SWAGGER_UI_DIST": "/api/v1/docs/assets",
    "SWAGGER_UI_FAVICON_HREF": "/api/v1/docs/assets/favicon-32x32.png",
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "persistAuthorization": False, "displayOperationId": False},
}
# Idempotency-Key (api/idempotency.py): how long a key's stored answer is replayed, how long a retry waits for
# the first request with the same key to finish before answering 409 `idempotency_in_progress`, and after how
# long an unanswered claim counts as abandoned (its request died) and may be taken over. The last must exceed
# the longest request the web server lets run.
IDEMPOTENCY_TTL_S = env_int("IDEMPOTENCY_TTL_S", 24 * 3600)
IDEMPOTENCY_WAIT_S = env_float("IDEMPOTENCY_WAIT_S", 10.0)
IDEMPOTENCY_ABANDONED_AFTER_S = env_int("IDEMPOTENCY_ABANDONED_AFTER_S", 300)
CELERY_BEAT_SCHEDULE["api-idempotency-expire"] = {
    "task": "api.tasks.idempotency_records_expire",
    "schedule": 3600.0,
}
