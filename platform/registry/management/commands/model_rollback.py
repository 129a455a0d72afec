from registry import services
from registry.management.commands._registry_command import RegistryCommand


class Command(RegistryCommand):
    help = "Undo the last promotion of a model in one step."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("model")

    def handle(self, *args, model, **options):
        row = services.model_version_rollback(model_name=model, actor=self.actor(options))
        self.stdout.write(f"active again: {row}")
