"""Shared plumbing of model_publish and model_config: the S3 connection and the registry's versions in use."""
from __future__ import annotations

import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class ModelRepositoryCommand(BaseCommand):
    def add_s3_arguments(self, parser, *, required: bool):
        parser.add_argument("--s3-uri", required=required and not os.environ.get("MIP_MODEL_REPOSITORY_URI"),
                            default=os.environ.get("MIP_MODEL_REPOSITORY_URI"),
                            help="s3://bucket[/prefix] of the OVMS model repository (default: MIP_MODEL_REPOSITORY_URI)")
        parser.add_argument("--endpoint-url", help="default: MIP_S3_ENDPOINT_URL, else the platform's S3_ENDPOINT_URL")
        parser.add_argument("--access-key", help="default: MIP_S3_ACCESS_KEY, else the platform's S3_ACCESS_KEY")
        parser.add_argument("--secret-key", help="default: MIP_S3_SECRET_KEY, else the platform's S3_SECRET_KEY")
        parser.add_argument("--region", help="default: MIP_S3_REGION, else the platform's S3_REGION")

    def s3_connection(self, options) -> dict:
        """Flags, else the MIP_S3_* environment, else the platform's own S3 settings."""
        def pick(option, env, setting):
            return options.get(option) or os.environ.get(env) or getattr(settings, setting, None)

        return {
            "endpoint_url": pick("endpoint_url", "MIP_S3_ENDPOINT_URL", "S3_ENDPOINT_URL"),
            "access_key": pick("access_key", "MIP_S3_ACCESS_KEY", "S3_ACCESS_KEY"),
            "secret_key": pick("secret_key", "MIP_S3_SECRET_KEY", "S3_SECRET_KEY"),
            "region": pick("region", "MIP_S3_REGION", "S3_REGION") or "us-east-1",
        }

    @staticmethod
    def versions_in_use(model_name: str) -> list[int]:
        from registry import selectors

        return selectors.versions_in_use(model_name)

    def execute(self, *args, **options):
        from model_repository.publish import PublishError

        try:
            return super().execute(*args, **options)
        except PublishError as exc:
            raise CommandError(str(exc)) from exc
