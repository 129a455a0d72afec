from registry import services
from registry.management.commands._registry_command import RegistryCommand


class Command(RegistryCommand):
    help = "Send a percentage of a model's assessments to a version (0 or --stop ends the canary)."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("model")
        parser.add_argument("version", type=int, nargs="?")
        parser.add_argument("--percent", type=int, default=10)
        parser.add_argument("--stop", action="store_true")

    def handle(self, *args, model, version, percent, stop, **options):
        services.model_version_set_canary(model_name=model, version=None if stop else version,
                                          percent=0 if stop else percent, actor=self.actor(options))
        self.stdout.write("canary stopped" if stop or not percent else f"canary: {model} v{version} at {percent}%")
