#!/usr/bin/env python
"""Django's command-line utility for the platform.

`platform/` is a source root, not a package (a package named `platform` would hide Python's own
`platform` module), so this script puts it and the repository root (for `tenants/` and
`model_repository/`) on sys.path before Django starts.
"""
import os
import sys
from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parent
REPO_ROOT = SOURCE_ROOT.parent

for path in (str(REPO_ROOT), str(SOURCE_ROOT)):
    if path not in sys.path:
        sys.path.insert(0, path)


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
