"""Operators' export of any chain, the platform's included: `audit_export (--tenant <slug> | --platform)
[--from <date-time>] [--to <date-time>] [--format json|csv|fhir]` to stdout. The export is itself recorded
(`audit.export`, platform chain, as an operator)."""
from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from audit import exports, selectors
from audit.services import audit_event_record
from tenants.context import dangerously_operator_access
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Export a hospital's (or the platform's) audit events as JSON, CSV or a FHIR R4 AuditEvent Bundle."

    def add_arguments(self, parser):
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--tenant")
        group.add_argument("--platform", action="store_true")
        parser.add_argument("--from", dest="occurred_from")
        parser.add_argument("--to", dest="occurred_to")
        parser.add_argument("--format", choices=["json", "csv", "fhir"], default="json")

    def handle(self, *args, **options):
        from api.audit_views import parse_when
        from api.problems import ApiProblem

        try:
            occurred_from = parse_when(options["occurred_from"], "--from")
            occurred_to = parse_when(options["occurred_to"], "--to")
        except ApiProblem as exc:
            raise CommandError(exc.problem_detail) from None
        with dangerously_operator_access(reason="audit_export command"):
            tenant = None
            if options["tenant"]:
                tenant = Tenant.objects.filter(slug=options["tenant"]).first()
                if tenant is None:
                    raise CommandError(f"no hospital with slug {options['tenant']!r}")
            with transaction.atomic():
                audit_event_record(event="audit.export", username="operator:audit_export",
                                   details={"format": options["format"], "chain": options["tenant"] or "platform"})
                events = list(selectors.audit_events(tenant=tenant, platform=options["platform"],
                                                     occurred_from=occurred_from, occurred_to=occurred_to))
        if options["format"] == "csv":
            self.stdout.write(exports.as_csv(events), ending="")
        elif options["format"] == "fhir":
            self.stdout.write(json.dumps(exports.as_fhir_bundle(events), indent=1))
        else:
            self.stdout.write(json.dumps(exports.as_json(events), indent=1))
