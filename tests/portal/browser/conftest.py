"""Fixtures of the portal's browser tests: Debian's Chromium driven by Playwright (sync API) against the running
platform (pytest-django's live_server, a real Celery worker on RabbitMQ, the local model server over gRPC)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    """One Chromium per test module. Playwright's sync API keeps an event loop running in this thread while it is
    open; the tests' own ORM calls are still plain synchronous code, which Django would refuse next to a running
    loop, so the check is lifted for exactly as long as the browser is open (module scope: the rest of the suite
    runs with it again)."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: run .ci/bootstrap.sh (it installs it)")
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, live_server, settings):
    """A fresh browser context (no cookies) on a desktop-sized window; the worklist polls twice a second here."""
    settings.PORTAL_POLL_INTERVAL_MS = 500
    context = browser.new_context(viewport={"width": 1366, "height": 900}, base_url=live_server.url,
                                  locale="en-GB")
    context.set_default_timeout(20_000)
    page = context.new_page()
    yield page
    context.close()


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot under tests/artifacts/screenshots/ (CI keeps them; people look at them)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page, username: str, password: str, code: str | None = None) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    if code is not None:
        page.get_by_label("6-digit code").fill(code)
        page.get_by_role("button", name="Verify").click()
    page.wait_for_url(lambda url: "/login" not in url)


@pytest.fixture
def deferred_celery_worker(platform_settings, transactional_db):
    """A real Celery worker like tests/conftest.py's `celery_worker`, started when the test says so: the test can
    watch an assessment sit `queued` in an open worklist, then start the worker and see it finish live."""
    import contextlib

    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    stack = contextlib.ExitStack()

    def start():
        app.conf.broker_url = platform_settings.CELERY_BROKER_URL
        app.conf.task_default_queue = platform_settings.CELERY_TASK_DEFAULT_QUEUE
        # Routine and, where the platform routes urgent work apart, the urgent queue too.
        queues = [platform_settings.CELERY_TASK_DEFAULT_QUEUE]
        urgent = getattr(platform_settings, "CELERY_URGENT_QUEUE", None)
        if urgent:
            queues.append(urgent)
        return stack.enter_context(start_worker(app, pool="solo", concurrency=1, perform_ping_check=False,
                                                shutdown_timeout=30, loglevel="WARNING", queues=queues))

    with stack:
        yield start
