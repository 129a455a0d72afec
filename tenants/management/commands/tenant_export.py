"""Export everything a hospital owns (rows as JSON and its stored objects) to a directory."""
from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from studies.storage import StorageUnavailable
from tenants.lifecycle import LifecycleError, tenant_export
from tenants.management.commands._lifecycle_args import tenant_by_slug_or_error


class Command(BaseCommand):
    help = ("Export a hospital's rows and stored objects to DESTINATION (a new or empty directory), with a "
            "manifest.json of SHA-256s; --zip also writes DESTINATION.zip. The export holds patient data.")

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("destination", type=Path)
        parser.add_argument("--zip", action="store_true", dest="archive")

    def handle(self, *args, slug, destination, archive, **options):
        try:
            manifest = tenant_export(tenant=tenant_by_slug_or_error(slug), destination=destination, archive=archive)
        except (LifecycleError, StorageUnavailable) as exc:
            raise CommandError(str(exc)) from exc
        counts = ", ".join(f"{name} {count}" for name, count in manifest.counts.items())
        self.stdout.write(f"{slug} exported to {manifest.directory}: {counts}")
        if manifest.archive:
            self.stdout.write(f"Archive: {manifest.archive}")
