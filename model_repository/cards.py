"""Model cards: the machine-readable ``model_card.json`` beside each version's IR, and checking files against it.

Standard library only: the local model server imports ``verify_version_files`` before it loads a version.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

CARD_NAME = "model_card.json"
# The files a version consists of, besides its card; each card records their SHA-256.
MODEL_FILES = ("model.xml", "model.bin")


def sha256_file(path: Path) -> str:
    """Return the hex SHA-256 of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_checksums(version_dir: Path) -> dict:
    """``{"model.xml": {"sha256": ...}, "model.bin": {"sha256": ...}}`` for the files in ``version_dir``."""
    return {name: {"sha256": sha256_file(Path(version_dir) / name)} for name in MODEL_FILES}


def read_card(version_dir: Path) -> dict:
    """The parsed model card of ``version_dir``. Raises FileNotFoundError or ValueError (not a JSON object)."""
    path = Path(version_dir) / CARD_NAME
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a JSON object")
    return data


def verify_version_files(version_dir: Path, *, require_card: bool = True) -> list[str]:
    """Check a version directory's files against its model card; returns the problems found (empty = OK).

    Problems: the card is missing (only when ``require_card``) or unreadable, it records no checksum for a model
    file, a file is missing, or a file's SHA-256 differs from the card's (tampered with, truncated, or replaced
    without a new card). The version number in the card must match the directory name when both are integers.
    """
    version_dir = Path(version_dir)
    card_path = version_dir / CARD_NAME
    if not card_path.exists():
        return [f"{card_path}: model card missing"] if require_card else []
    try:
        card = read_card(version_dir)
    except (OSError, ValueError) as exc:
        return [f"{card_path}: unreadable model card: {exc}"]
    problems = []
    if version_dir.name.isdigit() and "version" in card and card["version"] != int(version_dir.name):
        problems.append(f"{card_path}: card is for version {card['version']!r}, directory is {version_dir.name}")
    files = card.get("files") if isinstance(card.get("files"), dict) else {}
    for name in MODEL_FILES:
        expected = (files.get(name) or {}).get("sha256") if isinstance(files.get(name), dict) else None
        path = version_dir / name
        if not expected:
            problems.append(f"{card_path}: no sha256 recorded for {name}")
        elif not path.is_file():
            problems.append(f"{path}: file missing")
        elif (actual := sha256_file(path)) != expected:
            problems.append(f"{path}: sha256 {actual} does not match the model card ({expected})")
    return problems
