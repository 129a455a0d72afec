"""Billing test factories: plans, subscriptions and assessments as rows (no S3 or model server needed)."""
from __future__ import annotations

import hashlib
import uuid
from datetime import date
from decimal import Decimal

from django.utils import timezone

from billing import services
from billing.periods import month_start
from tenants.context import tenant_context


def make_plan(code="standard", *, currency="EUR", included_quota=100, overage="2.00", prices=None,
              monthly_cap=None):
    prices = prices if prices is not None else {"bone_age": Decimal("1.50")}
    return services.plan_create(code=code, name=code.title(), currency=currency, included_quota=included_quota,
                                overage_unit_price=Decimal(overage), prices=prices, monthly_cap=monthly_cap,
                                actor="test:operator")


def subscribe(tenant, plan, effective_from: date | None = None):
    return services.subscription_change(tenant=tenant, plan=plan,
                                        effective_from=effective_from or month_start(timezone.now()),
                                        actor="test:operator")


def make_assessment(tenant, *, status="queued", model_name="bone_age", version=1, shadow_version=None):
    from inference.models import Assessment
    from studies.models import ImageInstance, Study

    with tenant_context(tenant):
        study = Study.objects.create(tenant=tenant, study_instance_uid=f"2.25.{uuid.uuid4().int}")
        sha = hashlib.sha256(uuid.uuid4().bytes).hexdigest()
        instance = ImageInstance.objects.create(
            tenant=tenant, study=study, series_instance_uid=f"2.25.{uuid.uuid4().int}", sha256=sha,
            size_bytes=1024, content_type="application/dicom", storage_key=f"tenants/{tenant.pk}/test/{sha}.dcm",
            rows=512, columns=512)
        return Assessment.objects.create(tenant=tenant, instance=instance, model_name=model_name,
                                         model_version=version, status=status, shadow_version=shadow_version)


def succeed(tenant, assessment, *, version=1) -> bool:
    from inference import services as inference_services

    with tenant_context(tenant):
        inference_services.assessment_start(assessment_id=assessment.pk)
        return inference_services.assessment_succeed(assessment_id=assessment.pk, result={"ok": True},
                                                     served_version=version)


def add_usage(tenant, *, count: int, occurred_at, model_name="bone_age"):
    """Usage rows directly (as assessment_succeed writes them), at a chosen time, for month-closing tests."""
    from billing.models import UsageRecord

    with tenant_context(tenant):
        UsageRecord.objects.bulk_create([
            UsageRecord(tenant=tenant, assessment_id=uuid.uuid4(), model_name=model_name, model_version=1,
                        occurred_at=occurred_at)
            for _ in range(count)
        ])
