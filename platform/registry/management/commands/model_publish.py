from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError

from registry.management.commands._model_repository_command import ModelRepositoryCommand


class Command(ModelRepositoryCommand):
    help = ("Publish model versions to the S3 model repository OVMS reads (files checked against their card first) "
            "and regenerate its config.json, uploaded last, for the registry's versions in use.")

    def create_parser(self, prog_name, subcommand, **kwargs):
        # `--version N` is this command's version to publish, not Django's --version (which it replaces).
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("model")
        parser.add_argument("--version", type=int, action="append", default=[], dest="versions",
                            help="version to upload (repeatable; none: only regenerate config.json)")
        parser.add_argument("--repository-dir", type=Path, help="local model repository (default: MODEL_REPOSITORY_DIR)")
        self.add_s3_arguments(parser, required=True)

    def handle(self, *args, model, versions, **options):
        from model_repository.publish import publish_versions, split_s3_uri

        in_use = self.versions_in_use(model)
        if not in_use:
            raise CommandError(f"{model} has no version in use in the registry; register one first "
                               f"(manage.py model_register {model} N)")
        report = publish_versions(
            repository_dir=options.get("repository_dir") or settings.MODEL_REPOSITORY_DIR, model_name=model,
            versions=versions, s3_uri=options["s3_uri"], versions_in_use=in_use, **self.s3_connection(options))
        bucket = split_s3_uri(options["s3_uri"])[0]
        for key in report.uploaded:
            self.stdout.write(f"uploaded s3://{bucket}/{key}")
        for version in versions:
            if version not in in_use:
                self.stdout.write(self.style.WARNING(
                    f"{model} v{version} is published but not in use in the registry: OVMS will not load it until "
                    f"it is registered (model_register) and this command is run again"))
        self.stdout.write(f"{model}: {len(report.uploaded)} uploaded, {len(report.skipped)} unchanged; "
                          f"config.json serves versions {', '.join(map(str, report.versions_in_use))}")
