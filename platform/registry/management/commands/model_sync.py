import json
from pathlib import Path

from django.core.management.base import CommandError

from registry.management.commands._registry_command import RegistryCommand
from registry.sync import DesiredStateError, apply_desired_state


class Command(RegistryCommand):
    help = "Bring the registry in line with a desired-state document (the Helm chart's `models` values)."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--desired", required=True, help="JSON file: {model: {active, canary, shadow, pins}}")

    def handle(self, *args, desired, **options):
        try:
            document = json.loads(Path(desired).read_text())
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read {desired}: {exc}") from exc
        try:
            changes = apply_desired_state(document.get("models", document), actor=self.actor(options))
        except DesiredStateError as exc:
            raise CommandError(str(exc)) from exc
        for change in changes:
            self.stdout.write(change)
        self.stdout.write(f"{len(changes)} change(s); registry in line with {desired}")
