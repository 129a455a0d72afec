from django.core.management.base import BaseCommand

from registry import selectors


class Command(BaseCommand):
    help = "Show every model's versions, their state, canary share, and the versions OVMS must keep loaded."

    def handle(self, *args, **options):
        for model_name, rows in selectors.versions_by_model().items():
            in_use = selectors.versions_in_use(model_name)
            self.stdout.write(f"{model_name}  (versions in use: {', '.join(map(str, in_use)) or 'none'})")
            for row in rows:
                share = f" {row.canary_percent}%" if row.state == "canary" else ""
                self.stdout.write(f"  v{row.version:<4} {row.precision:<6} {row.state}{share}")
