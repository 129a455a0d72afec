from registry import services
from registry.management.commands._registry_command import RegistryCommand


class Command(RegistryCommand):
    help = "Run a version beside the answering one on real traffic (never shown, never billed); --stop ends it."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("model")
        parser.add_argument("version", type=int, nargs="?")
        parser.add_argument("--stop", action="store_true")

    def handle(self, *args, model, version, stop, **options):
        services.model_version_set_shadow(model_name=model, version=None if stop else version,
                                          actor=self.actor(options))
        self.stdout.write("shadow stopped" if stop else f"shadow: {model} v{version}")
