"""The portal in a real browser (Debian's Chromium through Playwright) against the running platform.

A radiologist signs in with the second factor, drops the real hand radiograph on the submit page, watches it reach
`succeeded` in the worklist without reloading, reads the result (image, overlay, numbers, reference chart) and signs
it off; a clinician is refused the administration pages; hospital A cannot open hospital B's result by URL; the
administration, usage, audit and operator pages render; the portal switches to Simplified Chinese. Screenshots of
the main pages go to tests/artifacts/screenshots/.
"""
from __future__ import annotations

import time

import pyotp
import pytest

from tests.conftest import HAND_DX
from tests.portal.browser.conftest import screenshot, sign_in

pytestmark = pytest.mark.slow


def _enable_two_step(user) -> str:
    """Two-step sign-in on for `user`; returns the app's secret. Confirmed with the previous step's code, so the
    current step's code is still unused for the browser's sign-in."""
    from accounts import services

    enrolment = services.totp_enrolment_start(user=user)
    services.totp_enrolment_confirm(user=user, code=pyotp.TOTP(enrolment.secret).at(time.time() - 30))
    return enrolment.secret


def _person(hospital, username: str, role: str, *, staff: bool = False):
    from tenants import services

    user = services.user_create(username=username, password=f"{username}-Pass-2026!", email=f"{username}@example.org")
    if staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    if hospital is not None:
        services.membership_grant(tenant=hospital.tenant, user=user, role=role)
    return user, f"{username}-Pass-2026!"


def _assessment(hospital, assessment_id):
    from inference.models import Assessment
    from tenants.context import tenant_context

    with tenant_context(hospital.tenant):
        return Assessment.objects.select_related("instance").get(pk=assessment_id)


def test_a_radiologist_submits_the_hand_radiograph_follows_it_live_reads_the_result_and_signs_it_off(
        page, hospital_a, deferred_celery_worker):
    secret = _enable_two_step(hospital_a.user)
    page.goto("/login/")
    screenshot(page, "01-login")
    sign_in(page, hospital_a.user.username, hospital_a.password, code=pyotp.TOTP(secret).now())

    # Submit: the file input inside the drop zone; sex is prefilled from the DICOM header, age is typed in.
    page.goto("/submit/")
    page.get_by_label("Assessment", exact=True).select_option("bone_age")
    page.set_input_files("#id_files", str(HAND_DX))
    page.wait_for_function("document.getElementById('sex-f').checked")
    page.get_by_label("Years").fill("10")
    page.get_by_label("Months").fill("6")
    page.get_by_label("Urgent").check()
    page.get_by_role("button", name="Submit", exact=True).click()
    link = page.locator("[data-assessment-link]")
    link.wait_for()
    assert page.locator("[data-progress]").first.evaluate("el => el.value") == 100
    assessment_id = link.get_attribute("data-assessment-link")
    screenshot(page, "02-submit")
    submitted = _assessment(hospital_a, assessment_id)
    assert (submitted.status, submitted.patient_sex, submitted.chronological_age_months, submitted.priority) == \
        ("queued", "F", 126.0, "urgent")

    # Worklist: the row shows `queued`; the worker starts only now, and the row turns `succeeded` by polling.
    page.goto("/")
    row = page.locator(f'tr[data-assessment="{assessment_id}"]')
    assert row.get_attribute("data-status") == "queued"
    page.evaluate("window.__notReloaded = true")
    waiting = page.context.new_page()  # the result page, opened too early, shows the result once it exists
    waiting.goto(f"/assessments/{assessment_id}/")
    assert waiting.locator("[data-pending]").is_visible()
    deferred_celery_worker()
    page.wait_for_selector(f'tr[data-assessment="{assessment_id}"][data-status="succeeded"]', timeout=60_000)
    assert page.evaluate("window.__notReloaded === true"), "the worklist reloaded instead of updating in place"
    waiting.wait_for_selector("[data-bone-age]")
    waiting.close()
    assert row.locator("[data-status-pill]").inner_text() == "Succeeded"
    screenshot(page, "03-worklist")

    # Result: the image with window/level, the numbers beside the chronological age, the chart, the demo banner.
    row.get_by_role("link", name="Open result").click()
    page.wait_for_selector("[data-viewer][data-ready='1']")
    result = _assessment(hospital_a, assessment_id).result
    assert page.locator("[data-bone-age]").inner_text() == result["bone_age_years_months"]
    assert page.locator("[data-chronological-age]").inner_text() == "10 y 6 m"
    point = page.locator("svg.bone-age-chart circle.patient")
    assert float(point.get_attribute("data-bone-months")) == pytest.approx(result["bone_age_months"], abs=0.05)
    assert float(point.get_attribute("data-chrono-months")) == 126.0
    assert "demo, not for diagnostic use" in page.locator("[data-demo-banner]").inner_text()
    assert "bone_age version" in page.locator("[data-model]").inner_text()
    assert page.locator("[data-download]").evaluate_all("links => links.map(a => a.getAttribute('href'))") == [
        f"/api/v1/assessments/{assessment_id}/{tail}" for tail in ("report.pdf", "report.html", "fhir", "dicom/sr")]
    centre = "() => { const c = document.querySelector('[data-image]'); " \
             "return c.getContext('2d').getImageData(c.width / 2, c.height / 2, 1, 1).data[0]; }"
    before = page.evaluate(centre)
    page.locator("[data-width]").fill("40")  # a narrow window: mid-grey becomes black or white
    assert page.evaluate(centre) != before
    if result.get("overlays"):
        assert int(page.locator("[data-overlay]").get_attribute("data-drawn")) >= 1
    # The overlay lies exactly on the image, whatever the image's size (a box mismatch shifts every mask).
    boxes = page.evaluate("() => ['[data-image]', '[data-overlay]'].map(s => { const r = document.querySelector(s)"
                          ".getBoundingClientRect(); return [r.x, r.y, r.width, r.height].map(Math.round); })")
    assert boxes[0] == boxes[1], boxes
    screenshot(page, "04-result")

    # The overlay contract (docs/catalogue.md): a heat map grid and boxes are drawn over the image.
    from inference.models import Assessment
    from tenants.context import tenant_context

    grid = [[(r * 16 + c) / 255 for c in range(16)] for r in range(16)]
    with tenant_context(hospital_a.tenant):
        Assessment.objects.filter(pk=assessment_id).update(result={**result, "overlays": [
            {"kind": "heatmap", "grid": grid},
            {"kind": "boxes", "boxes": [{"box": [200, 300, 700, 900], "label": "ROI", "score": 0.9}]}]})
    page.reload()
    page.wait_for_selector("[data-viewer][data-ready='1']")
    assert page.locator("[data-overlay]").get_attribute("data-drawn") == "2"
    painted = page.evaluate("() => { const c = document.querySelector('[data-overlay]'); "
                            "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; "
                            "let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n / (d.length / 4); }")
    assert painted > 0.5, painted
    screenshot(page, "05-result-overlay")

    # A "letterbox" grid covers the square the model saw (the portrait image centred in it): its top-left cell
    # starts left of the image, so less of it lands on the image than a whole-image grid's cell would.
    corner = [[1.0 if (r, c) == (0, 0) else 0.0 for c in range(4)] for r in range(4)]
    with tenant_context(hospital_a.tenant):
        Assessment.objects.filter(pk=assessment_id).update(
            result={**result, "overlays": [{"kind": "heatmap", "frame": "letterbox", "grid": corner}]})
    page.reload()
    page.wait_for_selector("[data-viewer][data-ready='1']")
    rows, columns = submitted.instance.rows, submitted.instance.columns
    side = max(rows, columns)
    expected = (max(0.0, (columns - side) / 2 + side / 4) / columns) * (max(0.0, (rows - side) / 2 + side / 4) / rows)
    letterboxed = page.evaluate("() => { const c = document.querySelector('[data-overlay]'); "
                                "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; "
                                "let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n / (d.length / 4); }")
    assert letterboxed == pytest.approx(expected, abs=0.01)

    # Sign-off: disagreeing needs a comment; the verdict is recorded, shown and audited.
    page.get_by_role("radio", name="Disagree").check()
    page.get_by_label("Comment").fill("Carpal ossification reads about a year older.")
    page.get_by_role("button", name="Sign off").click()
    page.wait_for_selector("[data-signoff='disagree']")
    assert "Carpal ossification" in page.locator("[data-signoffs]").inner_text()
    from reviews.models import SignOff
    from tests.audit._support import all_events

    with tenant_context(hospital_a.tenant):
        signoff = SignOff.objects.get(assessment_id=assessment_id)
    assert (signoff.decision, signoff.username) == ("disagree", hospital_a.user.username)
    events = [e for e in all_events() if e.event == "assessment.signoff"]
    assert len(events) == 1 and str(events[0].assessment_id) == assessment_id
    assert "Carpal" not in str(events[0].details)


def test_a_clinician_is_refused_administration_and_hospital_b_results_stay_out_of_reach(
        page, hospital_a, hospital_b, his_b):
    clinician, password = _person(hospital_a, "clin.hospital-a", "clinician")
    with HAND_DX.open("rb") as handle:
        response = his_b.post("/api/v1/assessments", {"file": handle, "model": "bone_age", "patient_sex": "F"},
                              format="multipart")
    assert response.status_code == 202
    b_assessment = response.json()["id"]

    sign_in(page, clinician.username, password)
    nav = page.get_by_role("navigation", name="Main")
    assert nav.get_by_role("link", name="Worklist").is_visible()
    assert nav.get_by_role("link", name="People").count() == 0
    for path in ("/manage/people/", "/manage/keys/", "/billing/", "/audit/", "/operator/"):
        answer = page.goto(path)
        assert answer.status == 403, path
        assert page.locator("[role=alert]").is_visible()

    answer = page.goto(f"/assessments/{b_assessment}/")
    assert answer.status == 404
    assert hospital_b.tenant.name not in page.content()
    assert page.request.get(f"/assessments/{b_assessment}/image.png").status == 404
    assert page.request.get(f"/api/v1/assessments/{b_assessment}/signoffs").status == 404


def test_administration_usage_audit_and_operator_pages_render_and_the_portal_speaks_chinese(
        page, browser, live_server, hospital_a, his_a):
    from billing.models import UsageRecord
    from django.utils import timezone
    from tenants.context import tenant_context

    admin, admin_password = _person(hospital_a, "admin.hospital-a", "admin")
    auditor, auditor_password = _person(hospital_a, "audit.hospital-a", "auditor")
    operator, operator_password = _person(None, "ops.platform", "", staff=True)
    with HAND_DX.open("rb") as handle:
        submitted = his_a.post("/api/v1/assessments", {"file": handle, "model": "bone_age",
                                                       "chronological_age_months": "120"}, format="multipart")
    assert submitted.status_code == 202
    with tenant_context(hospital_a.tenant):  # two days of usage for the chart (billing writes these on success)
        import uuid
        from datetime import timedelta

        now = timezone.now()
        for days_ago, count in ((0, 3), (1 if now.day > 1 else 0, 2)):
            for _ in range(count):
                UsageRecord.objects.create(tenant=hospital_a.tenant, assessment_id=uuid.uuid4(),
                                           model_name="bone_age", model_version=1,
                                           occurred_at=now - timedelta(days=days_ago))

    sign_in(page, admin.username, admin_password)
    page.goto("/manage/people/")
    page.get_by_label("Username").fill("new.radiologist")
    page.get_by_label("E-mail").fill("new.radiologist@example.org")
    page.locator("#id_new_role").select_option("radiologist")
    page.get_by_role("button", name="Add", exact=True).click()
    page.wait_for_selector("tr[data-person='new.radiologist']")
    from django.core import mail

    assert any("new.radiologist@example.org" in m.to for m in mail.outbox)  # the link to choose a password
    screenshot(page, "06-admin-people")

    page.goto("/manage/keys/")
    page.get_by_label("Name").fill("Ward 3 RIS")
    page.get_by_role("button", name="Create key").click()
    key = page.locator("#new-key-value").inner_text()
    assert key.startswith("mip_")
    screenshot(page, "07-admin-keys")
    page.goto("/manage/keys/")
    assert key not in page.content()  # shown once
    page.locator("tr", has_text="Ward 3 RIS").get_by_role("button", name="Revoke").click()
    page.wait_for_selector("tr:has-text('Ward 3 RIS') .status-failed")

    page.goto("/billing/")
    assert page.locator("[data-usage-total]").inner_text() == "5"
    assert page.locator("svg.chart rect[data-model='bone_age']").count() >= 1
    screenshot(page, "08-usage")

    # Simplified Chinese, stored for the person: the navigation is translated and stays so after signing in again.
    with page.expect_navigation():
        page.locator("#portal-language").select_option("zh-hans")  # the form submits on change
    nav = page.get_by_role("navigation")
    assert nav.get_by_role("link", name="人员").is_visible()
    assert nav.get_by_role("link", name="用量").is_visible()
    screenshot(page, "09-usage-zh")
    page.context.clear_cookies()
    sign_in(page, admin.username, admin_password)
    assert page.get_by_role("link", name="API 密钥").is_visible()

    auditor_page = browser.new_context(viewport={"width": 1366, "height": 900}, base_url=live_server.url).new_page()
    sign_in(auditor_page, auditor.username, auditor_password)
    auditor_page.goto("/audit/?event=api_key.create")
    assert auditor_page.locator("tr[data-sequence]").count() >= 1
    csv_link = auditor_page.locator("[data-export='csv']").get_attribute("href")
    exported = auditor_page.request.get(csv_link)
    assert exported.status == 200 and "api_key.create" in exported.text()
    screenshot(auditor_page, "10-audit")
    auditor_page.context.close()

    operator_page = browser.new_context(viewport={"width": 1366, "height": 900}, base_url=live_server.url).new_page()
    sign_in(operator_page, operator.username, operator_password)
    operator_page.goto("/operator/")
    assert operator_page.locator(f"tr[data-hospital='{hospital_a.tenant.slug}']").is_visible()
    screenshot(operator_page, "11-operator")
    operator_page.context.close()

    # A tablet in portrait: the worklist fits its width (no sideways scrolling of the page); a critical result
    # stands out at the top of it.
    from inference.models import Assessment

    with tenant_context(hospital_a.tenant):
        Assessment.objects.filter(pk=submitted.json()["id"]).update(
            is_critical=True, critical_findings=[{"code": "bone_age_extreme", "message": "Bone age far from age."}])
    tablet = browser.new_context(viewport={"width": 768, "height": 1024}, base_url=live_server.url,
                                 has_touch=True, is_mobile=True).new_page()
    radiologist = hospital_a.user
    sign_in(tablet, radiologist.username, hospital_a.password)
    assert tablet.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    first = tablet.locator("tr[data-assessment]").first
    assert first.get_attribute("data-assessment") == submitted.json()["id"]
    assert "is-critical" in first.get_attribute("class")
    screenshot(tablet, "12-tablet-worklist")
    first.get_by_role("link").first.click()
    tablet.wait_for_selector("[data-viewer][data-ready='1']")
    assert tablet.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    screenshot(tablet, "13-tablet-result")
    tablet.context.close()
