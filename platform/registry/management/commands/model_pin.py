from django.core.management.base import CommandError

from registry import services
from registry.management.commands._registry_command import RegistryCommand
from tenants.selectors import tenant_by_slug


class Command(RegistryCommand):
    help = "Pin a hospital to a version of a model, or --unpin to follow the platform default again."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--tenant", required=True, help="the hospital's slug")
        parser.add_argument("model")
        parser.add_argument("version", type=int, nargs="?")
        parser.add_argument("--unpin", action="store_true")

    def handle(self, *args, tenant, model, version, unpin, **options):
        hospital = tenant_by_slug(slug=tenant)
        if hospital is None:
            raise CommandError(f"no hospital with slug {tenant!r}")
        if not unpin and version is None:
            raise CommandError("give a version, or --unpin")
        services.tenant_model_pin(tenant=hospital, model_name=model, version=None if unpin else version,
                                  actor=self.actor(options))
        self.stdout.write(f"{hospital.slug}: {model} " + ("follows the platform default" if unpin else f"pinned to v{version}"))
