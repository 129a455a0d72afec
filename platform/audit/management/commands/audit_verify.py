"""Verify audit hash chains: `audit_verify [--tenant <slug> | --platform | --all]` (default --all).

Prints one line per chain and exits 1 if any chain is broken (first broken link and what broke it).
"""
from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from audit.models import PLATFORM_CHAIN
from audit.verify import chain_verify, chains_present
from tenants.context import dangerously_operator_access
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Walk audit hash chains and report the first broken link, a truncated tail or a bad head signature."

    def add_arguments(self, parser):
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--tenant", help="slug of the hospital whose chain to verify")
        group.add_argument("--platform", action="store_true", help="verify the platform-level chain only")
        group.add_argument("--all", action="store_true", help="verify every chain (the default)")

    def handle(self, *args, **options):
        with dangerously_operator_access(reason="audit_verify command"):
            if options["tenant"]:
                tenant = Tenant.objects.filter(slug=options["tenant"]).first()
                if tenant is None:
                    raise CommandError(f"no hospital with slug {options['tenant']!r}")
                chains = [str(tenant.pk)]
            elif options["platform"]:
                chains = [PLATFORM_CHAIN]
            else:
                chains = chains_present()
            names = {str(t.pk): t.slug for t in Tenant.objects.filter(pk__in=[c for c in chains
                                                                            if c != PLATFORM_CHAIN])}
            broken = 0
            for chain in chains:
                started = time.perf_counter()
                report = chain_verify(chain)
                elapsed = time.perf_counter() - started
                label = names.get(chain, chain)
                line = report.summary().replace(chain, label, 1) + f" [{elapsed:.2f}s]"
                if report.ok:
                    self.stdout.write(line)
                else:
                    broken += 1
                    self.stdout.write(self.style.ERROR(line))
        if broken:
            raise CommandError(f"{broken} of {len(chains)} audit chain(s) broken")
        self.stdout.write(f"{len(chains)} chain(s) verified")
