"""Parsing of the OVMS ``config.json`` (``model_config_list``) and of model version policies."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


class ConfigError(ValueError):
    """config.json is missing, not JSON, or not in the OVMS format."""


@dataclass(frozen=True)
class VersionPolicy:
    """OVMS ``model_version_policy``: ``latest`` N versions (default 1), ``specific`` versions, or ``all``."""

    kind: str = "latest"
    num_versions: int = 1
    versions: tuple[int, ...] = ()

    @classmethod
    def from_json(cls, raw: dict | None) -> VersionPolicy:
        if not raw:
            return cls()
        if not isinstance(raw, dict) or len(raw) != 1:
            raise ConfigError(f"Model version policy is in wrong format: {raw!r}")
        (kind, body), = raw.items()
        body = body or {}
        if kind == "all":
            return cls(kind="all")
        if kind == "latest":
            n = body.get("num_versions", 1)
            if not isinstance(n, int) or n < 1:
                raise ConfigError(f"Model version policy is in wrong format: num_versions={n!r}")
            return cls(kind="latest", num_versions=n)
        if kind == "specific":
            versions = body.get("versions")
            if not isinstance(versions, list) or not all(isinstance(v, int) and v > 0 for v in versions):
                raise ConfigError(f"Model version policy is in wrong format: versions={versions!r}")
            return cls(kind="specific", versions=tuple(sorted(set(versions))))
        raise ConfigError(f"Model version policy contains unsupported key: {kind!r}")

    def select(self, available: list[int]) -> list[int]:
        """Return the versions (ascending) this policy serves out of the ``available`` version directories."""
        available = sorted(set(available))
        if self.kind == "all":
            return available
        if self.kind == "specific":
            return [v for v in available if v in self.versions]
        return available[-self.num_versions:]


@dataclass(frozen=True)
class ModelConfig:
    """One entry of ``model_config_list``."""

    name: str
    base_path: Path
    version_policy: VersionPolicy = field(default_factory=VersionPolicy)
    plugin_config: dict = field(default_factory=dict)
    target_device: str = "CPU"
    nireq: int = 0  # 0: use the compiled model's OPTIMAL_NUMBER_OF_INFER_REQUESTS, as OVMS does.

    def available_versions(self) -> list[int]:
        """Integer-named subdirectories of ``base_path`` that contain a model.xml (OVMS ignores the rest)."""
        if not self.base_path.is_dir():
            return []
        return sorted(
            int(p.name) for p in self.base_path.iterdir()
            if p.is_dir() and p.name.isdigit() and int(p.name) > 0 and any(p.glob("*.xml"))
        )


def _plugin_config(raw) -> dict:
    # OVMS accepts plugin_config as an object or as a JSON string; values are passed to compile_model as strings.
    if raw is None:
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"Plugin config is in wrong format: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"Plugin config is in wrong format: {raw!r}")
    return {str(k): v if isinstance(v, str) else json.dumps(v) if isinstance(v, (dict, list)) else str(v)
            for k, v in raw.items()}


def load_config(config_path: str | Path) -> list[ModelConfig]:
    """Read an OVMS config.json and return its model entries.

    ``base_path`` may be absolute or relative to the directory holding config.json (as OVMS allows).
    Raises ConfigError when the file is missing, not JSON, or an entry is malformed. Pipelines and mediapipe
    graphs are not supported and are rejected rather than silently ignored.
    """
    path = Path(config_path).resolve()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"The file is not valid json: {path}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("model_config_list", []), list):
        raise ConfigError(f"{path}: expected an object with a model_config_list array")
    for unsupported in ("pipeline_config_list", "custom_node_library_config_list", "mediapipe_config_list"):
        if data.get(unsupported):
            raise ConfigError(f"{path}: {unsupported} is not supported by the local model server")
    models: list[ModelConfig] = []
    seen: set[str] = set()
    for i, entry in enumerate(data.get("model_config_list", [])):
        cfg = entry.get("config") if isinstance(entry, dict) else None
        if not isinstance(cfg, dict) or not cfg.get("name") or not cfg.get("base_path"):
            raise ConfigError(f"{path}: model_config_list[{i}] needs config.name and config.base_path")
        name = str(cfg["name"])
        if name in seen:
            raise ConfigError(f"{path}: duplicate model name {name!r}")
        seen.add(name)
        base = Path(cfg["base_path"]).expanduser()
        if not base.is_absolute():
            base = path.parent / base
        nireq = cfg.get("nireq", 0)
        if not isinstance(nireq, int) or nireq < 0:
            raise ConfigError(f"{path}: {name}: nireq must be a non-negative integer")
        models.append(ModelConfig(
            name=name,
            base_path=base.resolve(),
            version_policy=VersionPolicy.from_json(cfg.get("model_version_policy")),
            plugin_config=_plugin_config(cfg.get("plugin_config")),
            target_device=str(cfg.get("target_device", "CPU")),
            nireq=nireq,
        ))
    return models
