"""Offboard a suspended, exported hospital: purge its objects and rows; keep the Tenant row."""
from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from studies.storage import StorageUnavailable
from tenants.lifecycle import LifecycleError, tenant_offboard
from tenants.management.commands._lifecycle_args import tenant_by_slug_or_error


class Command(BaseCommand):
    help = ("Permanently delete a suspended hospital's stored objects and rows after verifying its export "
            "(see tenant_export). The Tenant row stays, offboarded, for billing and audit. Safe to run again "
            "if interrupted.")

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--export", required=True, type=Path, dest="export_destination",
                            help="the directory written by tenant_export")
        parser.add_argument("--confirm-slug", required=True, help="type the hospital's slug again")

    def handle(self, *args, slug, export_destination, confirm_slug, **options):
        try:
            report = tenant_offboard(tenant=tenant_by_slug_or_error(slug), export_destination=export_destination,
                                     confirm_slug=confirm_slug)
        except (LifecycleError, StorageUnavailable) as exc:
            raise CommandError(str(exc)) from exc
        rows = ", ".join(f"{label} {count}" for label, count in report.rows_deleted.items())
        self.stdout.write(f"{slug} offboarded{' (resumed)' if report.resumed else ''}: "
                          f"{report.objects_deleted} objects deleted; rows deleted: {rows}")
