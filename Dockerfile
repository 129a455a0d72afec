# syntax=docker/dockerfile:1.7
# The platform image: web (gunicorn), Celery workers and beat, migrations, model sync and the helm test all run
# from it (helm/mip). Two stages: the build stage installs the dependencies into a virtualenv and collects static
# files; the runtime stage copies only that virtualenv and the source, and runs as an unprivileged user with a
# read-only root filesystem in mind (everything writable is /tmp, an emptyDir in the chart).
#
#   docker build -t registry.example.org/mip/platform:0.1.0 .
#
# The base is pinned to an exact Python patch release on Debian bookworm (the platform's tested interpreter,
# README "Requirements"). Pin its digest as well in your registry's build:
#   --build-arg PYTHON_IMAGE=docker.io/library/python:3.11.14-slim-bookworm@sha256:<digest>
ARG PYTHON_IMAGE=docker.io/library/python:3.11.14-slim-bookworm

# ---------------------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app
# Dependencies first, so that a source-only change reuses this layer. pyproject.toml has `packages = []`:
# installing the project installs its dependencies only (every one ships manylinux wheels: no compiler needed).
COPY pyproject.toml ./
RUN pip install pip==26.3 \
 && pip install . \
 && pip check
COPY platform/ platform/
COPY tenants/ tenants/
COPY model_repository/ model_repository/
# Result schemas (reports.schemas validates against them at run time).
COPY docs/results/ docs/results/
# Static files of the Django admin and portal, collected once at build time (development profile: collectstatic
# needs no credentials). Bytecode compiled now, because the root filesystem is read-only at run time.
RUN PYTHONPATH=/app:/app/platform MIP_ENV=development MIP_STATIC_ROOT=/app/static \
        python platform/manage.py collectstatic --noinput --verbosity 0 \
 && python -m compileall -q /app/platform /app/tenants /app/model_repository

# ---------------------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="mip-platform" \
      org.opencontainers.image.description="Medical-imaging AI platform: Django web app, Celery workers and beat" \
      org.opencontainers.image.licenses="Proprietary"
# A fixed, unprivileged uid/gid (10001), matching the chart's podSecurityContext; no login shell, no home.
RUN groupadd --system --gid 10001 mip \
 && useradd --system --uid 10001 --gid mip --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin mip
# Pango and a font for WeasyPrint's PDF reports (reports.render); pinned to bookworm's versions.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpango-1.0-0=1.50.12+ds-1 libpangoft2-1.0-0=1.50.12+ds-1 \
        fonts-dejavu-core=2.37-6 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/venv /opt/venv
# Source owned by root and not writable by the runtime user.
COPY --from=build /app /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app:/app/platform \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=config.settings \
    MIP_ENV=production \
    MIP_STATIC_ROOT=/app/static \
    HOME=/tmp
WORKDIR /app/platform
USER 10001:10001
EXPOSE 8000
# The chart sets the command of each process; this default is the web app.
CMD ["gunicorn", "config.wsgi", "--bind=0.0.0.0:8000", "--worker-tmp-dir=/tmp", "--access-logfile=-"]
