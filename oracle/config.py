"""An oracle member's YAML config (written by `azora oracle init`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ConfigError(Exception):
    """A configuration that cannot run; the message names the key."""


@dataclass(frozen=True)
class Platform:
    """A learning platform allowed to post statements, with its HTTP Basic credentials."""

    username: str
    password: str


@dataclass(frozen=True)
class OracleConfig:
    name: str
    rpc: str
    keystore: Path
    password_file: Path
    datadir: Path
    xapi_host: str = "127.0.0.1"
    xapi_port: int = 9100
    p2p_host: str = "127.0.0.1"
    p2p_port: int = 9200
    peers: tuple[str, ...] = ()
    platforms: tuple[Platform, ...] = ()
    submit: bool = True               # False: leave submission to the learner's wallet
    deadline_seconds: int = 7 * 86_400
    submit_grace_seconds: float = 10.0
    poll_seconds: float = 0.5

    @classmethod
    def load(cls, path: Path | str) -> "OracleConfig":
        path = Path(path)
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except FileNotFoundError:
            raise ConfigError(f"config file {path} not found") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"config file {path} must hold a mapping")
        return cls.from_mapping(raw, base=path.parent)

    @classmethod
    def from_mapping(cls, raw: dict[str, Any], base: Path) -> "OracleConfig":
        for key in ("name", "rpc", "keystore", "password_file", "datadir"):
            if key not in raw:
                raise ConfigError(f"oracle config: `{key}` is required")
        xapi, p2p = raw.get("xapi", {}) or {}, raw.get("p2p", {}) or {}
        platforms = tuple(Platform(str(p["username"]), str(p["password"])) for p in raw.get("platforms", []))
        if not platforms:
            raise ConfigError("oracle config: `platforms` must list at least one username/password")
        return cls(
            name=str(raw["name"]), rpc=str(raw["rpc"]),
            keystore=_path(base, raw["keystore"]), password_file=_path(base, raw["password_file"]),
            datadir=_path(base, raw["datadir"]),
            xapi_host=str(xapi.get("host", "127.0.0.1")), xapi_port=int(xapi.get("port", 9100)),
            p2p_host=str(p2p.get("host", "127.0.0.1")), p2p_port=int(p2p.get("port", 9200)),
            peers=tuple(p2p.get("peers", ())), platforms=platforms,
            submit=bool(raw.get("submit", True)),
            deadline_seconds=int(raw.get("deadline_seconds", 7 * 86_400)),
            submit_grace_seconds=float(raw.get("submit_grace_seconds", 10.0)),
            poll_seconds=float(raw.get("poll_seconds", 0.5)),
        )


def _path(base: Path, value: Any) -> Path:
    path = Path(str(value))
    return path if path.is_absolute() else (base / path)
