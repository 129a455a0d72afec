from registry import services
from registry.management.commands._registry_command import RegistryCommand


class Command(RegistryCommand):
    help = "Make a version the platform default for a model (the previous one is retired; undo with model_rollback)."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("model")
        parser.add_argument("version", type=int)

    def handle(self, *args, model, version, **options):
        row = services.model_version_promote(model_name=model, version=version, actor=self.actor(options))
        self.stdout.write(f"active: {row}")
