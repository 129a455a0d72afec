"""Create an API key for a hospital's HIS (operators); the key is printed once and never stored."""
from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from tenants import services
from tenants.context import tenant_context
from tenants.selectors import tenant_by_slug


class Command(BaseCommand):
    help = "Create an API key for a hospital and print it once (only its SHA-256 is stored)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="the hospital's slug")
        parser.add_argument("--name", required=True, help="what the key is for, e.g. 'RIS production'")
        parser.add_argument("--scopes", default="submit,read", help="comma-separated subset of submit,read")
        parser.add_argument("--expires-in-days", type=int, default=None, help="expire the key after N days")

    def handle(self, *args, tenant: str, name: str, scopes: str, expires_in_days: int | None, **options):
        hospital = tenant_by_slug(slug=tenant)
        if hospital is None:
            raise CommandError(f"No hospital with slug {tenant!r}.")
        if not hospital.is_active:
            raise CommandError(f"Hospital {tenant!r} is {hospital.status}; its keys would be refused.")
        if expires_in_days is not None and expires_in_days <= 0:
            raise CommandError("--expires-in-days must be a positive number of days.")
        expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
        scope_list = [part.strip() for part in scopes.split(",") if part.strip()]
        with tenant_context(hospital):
            try:
                api_key, full_key = services.api_key_create(
                    tenant=hospital, name=name, scopes=scope_list, expires_at=expires_at)
            except services.ApiKeyRejected as exc:
                raise CommandError(f"{exc.code}: {exc.message}") from None
        expiry = api_key.expires_at.isoformat() if api_key.expires_at else "never (until revoked)"
        # Details on stderr, the key alone on stdout, so `KEY=$(manage.py create_api_key ...)` works.
        self.stderr.write(
            f"API key {api_key.name!r} for {hospital.slug}: id {api_key.id}, prefix {api_key.prefix}, "
            f"scopes {','.join(api_key.scopes)}, expires {expiry}.\n"
            "Shown once; store it now (the platform keeps only its hash)."
        )
        self.stdout.write(full_key)
