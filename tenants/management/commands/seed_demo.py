"""Create the demo hospital with one person and one API key (development and single-box use only)."""
from __future__ import annotations

import json
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from tenants import services
from tenants.models import ApiKey, Membership, Tenant
from tenants.selectors import api_key_for_credentials


class Command(BaseCommand):
    help = "Create (or reuse) the demo hospital, a radiologist who can sign in, and an API key; write them to a file."

    def add_arguments(self, parser):
        parser.add_argument("--credentials-file", default=str(settings.REPO_ROOT / ".run" / "demo-credentials.json"))
        parser.add_argument("--slug", default="demo-hospital")

    @transaction.atomic
    def handle(self, *args, credentials_file: str, slug: str, **options):
        if not settings.IS_DEV:
            raise CommandError("seed_demo creates known credentials and only runs with MIP_ENV=development or test.")
        path = Path(credentials_file)
        saved = json.loads(path.read_text()) if path.exists() else {}

        tenant, _ = Tenant.objects.get_or_create(slug=slug, defaults={"name": "Demo Children's Hospital"})
        username = "demo.radiologist"
        user_model = get_user_model()
        user = user_model.objects.filter(username=username).first()
        password = saved.get("password")
        if user is None or not password or not user.check_password(password):
            password = secrets.token_urlsafe(12)
            if user is None:
                user = services.user_create(username=username, password=password)
            else:
                user.set_password(password)
                user.save(update_fields=["password"])
        services.membership_grant(tenant=tenant, user=user, role=Membership.Role.RADIOLOGIST)

        api_key_value = saved.get("api_key")
        existing = api_key_for_credentials(full_key=api_key_value) if api_key_value else None
        if existing is None or existing.is_revoked or existing.tenant_id != tenant.id:
            _, api_key_value = services.api_key_create(tenant=tenant, name="Demo HIS")

        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({
            "tenant_id": str(tenant.id), "tenant_slug": tenant.slug, "username": username,
            "password": password, "api_key": api_key_value,
        }, indent=2))
        path.chmod(0o600)
        self.stdout.write(f"Demo hospital {tenant.name!r} ready; credentials in {path}")
