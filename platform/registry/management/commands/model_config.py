import json
import os
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError

from registry.management.commands._model_repository_command import ModelRepositoryCommand


class Command(ModelRepositoryCommand):
    help = ("Write an OVMS config.json serving the registry's versions in use (for the local model server or a "
            "ConfigMap). Entries of other models already in the file are kept.")

    def add_arguments(self, parser):
        parser.add_argument("--output", type=Path, required=True, help="path of the config.json to write")
        parser.add_argument("--model", action="append", dest="models", default=[],
                            help="model to write (repeatable; default: every model in the registry)")
        parser.add_argument("--repository-dir", type=Path,
                            help="local model repository for base_path (default: MODEL_REPOSITORY_DIR); "
                                 "relative when the config is written into it")
        parser.add_argument("--s3-uri", help="s3://bucket[/prefix]: base_path is the model's S3 URI instead "
                                             "(a config for OVMS reading the S3 repository)")

    def handle(self, *args, output, models, **options):
        from model_repository.publish import model_base_path, render_config
        from registry import selectors

        names = models or sorted(selectors.versions_by_model())
        if not names:
            raise CommandError("the registry has no model; register a version first (model_register)")
        in_use = {name: self.versions_in_use(name) for name in names}
        unused = sorted(name for name, versions in in_use.items() if not versions)
        in_use = {name: versions for name, versions in in_use.items() if versions}
        if not in_use:
            raise CommandError(f"no version in use for {', '.join(unused)}: nothing for OVMS to serve")
        output = Path(output)
        existing = None
        if output.exists():
            try:
                existing = json.loads(output.read_text())
            except json.JSONDecodeError as exc:
                raise CommandError(f"{output} is not valid JSON: {exc}") from exc
            # A model with no version in use any more leaves the config (OVMS unloads it).
            existing["model_config_list"] = [e for e in existing.get("model_config_list", [])
                                             if e.get("config", {}).get("name") not in unused]
        repository_dir = Path(options.get("repository_dir") or settings.MODEL_REPOSITORY_DIR).resolve()
        if options.get("s3_uri"):
            base_paths = {name: model_base_path(options["s3_uri"], name) for name in in_use}
        elif output.resolve().parent == repository_dir:
            base_paths = None  # relative to the config's directory, as build_models writes it
        else:
            base_paths = {name: str(repository_dir / name) for name in in_use}
        config = render_config(in_use, existing=existing, base_paths=base_paths)
        output.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.")
        with os.fdopen(fd, "w") as fh:
            json.dump(config, fh, indent=2)
            fh.write("\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, output)  # a model server polling the file never reads half of it
        for name in unused:
            self.stdout.write(self.style.WARNING(f"{name}: no version in use, left out of {output}"))
        self.stdout.write(f"wrote {output}: " + "; ".join(
            f"{name} versions {', '.join(map(str, versions))}" for name, versions in in_use.items()))
