"""Suspend a hospital: logins and API keys refused, data kept, accepted work finishes."""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from tenants.lifecycle import LifecycleError, tenant_suspend
from tenants.management.commands._lifecycle_args import tenant_by_slug_or_error


class Command(BaseCommand):
    help = "Suspend a hospital: its logins and API keys are refused; its data is kept; accepted work finishes."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--reason", required=True)

    def handle(self, *args, slug, reason, **options):
        try:
            tenant = tenant_suspend(tenant=tenant_by_slug_or_error(slug), reason=reason)
        except LifecycleError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{tenant.slug} suspended since {tenant.suspended_at.isoformat()}")
