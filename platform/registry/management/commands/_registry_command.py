"""Shared plumbing of the registry's management commands: who acts, and turning refusals into clean errors."""
from __future__ import annotations

import getpass
import socket

from django.core.management.base import BaseCommand, CommandError

from registry.services import RegistryError


class RegistryCommand(BaseCommand):
    def add_arguments(self, parser):
        parser.add_argument("--actor", help="who is acting, for the rollout record (default: command:<user>@<host>)")

    def actor(self, options) -> str:
        return options.get("actor") or f"command:{getpass.getuser()}@{socket.gethostname()}"

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except RegistryError as exc:
            raise CommandError(str(exc)) from exc
