"""Reactivate a suspended hospital."""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from tenants.lifecycle import LifecycleError, tenant_reactivate
from tenants.management.commands._lifecycle_args import tenant_by_slug_or_error


class Command(BaseCommand):
    help = "Reactivate a suspended hospital: its logins and API keys work again."

    def add_arguments(self, parser):
        parser.add_argument("slug")

    def handle(self, *args, slug, **options):
        try:
            tenant = tenant_reactivate(tenant=tenant_by_slug_or_error(slug))
        except LifecycleError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{tenant.slug} is {tenant.status}")
