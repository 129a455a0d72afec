from registry import services
from registry.management.commands._registry_command import RegistryCommand


class Command(RegistryCommand):
    help = "Register a built model version (its files are checked against its model card)."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("model")
        parser.add_argument("version", type=int)

    def handle(self, *args, model, version, **options):
        row = services.model_version_register(model_name=model, version=version, actor=self.actor(options))
        self.stdout.write(f"registered {row}")
