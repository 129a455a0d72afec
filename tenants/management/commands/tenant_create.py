"""Create a hospital and its first administrator."""
from __future__ import annotations

import getpass

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from tenants.lifecycle import LifecycleError, tenant_create_with_admin


class Command(BaseCommand):
    help = ("Create a hospital with its first administrator (the person is created if missing). Without "
            "--prompt-password a password is generated and printed once.")

    def add_arguments(self, parser):
        parser.add_argument("--slug", required=True)
        parser.add_argument("--name", required=True)
        parser.add_argument("--admin-username", required=True)
        parser.add_argument("--admin-email", required=True)
        # No --admin-password: a password on the command line ends up in shell history and `ps`.
        parser.add_argument("--prompt-password", action="store_true",
                            help="ask for the administrator's password instead of generating one")

    def handle(self, *args, slug, name, admin_username, admin_email, prompt_password, **options):
        password = None
        if prompt_password:
            password = getpass.getpass("Administrator password: ")
            if password != getpass.getpass("Again: "):
                raise CommandError("The passwords differ.")
        try:
            tenant, user, initial_password = tenant_create_with_admin(
                slug=slug, name=name, admin_username=admin_username, admin_email=admin_email,
                admin_password=password,
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        except LifecycleError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Hospital {tenant.name!r} created: slug {tenant.slug}, id {tenant.id}")
        self.stdout.write(f"Administrator: {user.get_username()}")
        if initial_password:
            self.stdout.write(f"Initial password (shown once, not stored in clear): {initial_password}")
        elif not prompt_password:
            self.stdout.write("The person already existed and keeps their password.")
