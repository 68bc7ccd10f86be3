"""Node configuration: a YAML file (written by ``azora testnet init``) plus CLI overrides."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml


class ConfigError(Exception):
    """A configuration that cannot run; the message names the key."""


@dataclass(frozen=True)
class NodeConfig:
    datadir: Path
    genesis: Path | None = None
    http_addr: str = "127.0.0.1"
    http_port: int = 8545
    cors: tuple[str, ...] = ("*",)
    rate_limit: float = 0.0
    p2p_host: str = "0.0.0.0"
    p2p_port: int = 30333
    bootnodes: tuple[str, ...] = ()
    validator_keystore: Path | None = None
    password_file: Path | None = None
    block_interval: float = 1.0
    timeouts: dict[str, float] = field(default_factory=dict)
    metrics_port: int | None = None

    @classmethod
    def load(cls, path: Path) -> "NodeConfig":
        try:
            raw = yaml.safe_load(Path(path).read_text()) or {}
        except FileNotFoundError:
            raise ConfigError(f"config file {path} not found") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
        if not isinstance(raw, dict) or "datadir" not in raw:
            raise ConfigError(f"config file {path}: 'datadir' is required")
        base = Path(path).parent
        resolve = lambda value: (base / value).resolve() if value is not None else None  # noqa: E731
        http, p2p, validator = raw.get("http", {}), raw.get("p2p", {}), raw.get("validator", {})
        try:
            return cls(
                datadir=(base / raw["datadir"]).resolve(), genesis=resolve(raw.get("genesis")),
                http_addr=str(http.get("addr", "127.0.0.1")), http_port=int(http.get("port", 8545)),
                cors=tuple(http.get("cors", ["*"])), rate_limit=float(http.get("ratelimit", 0)),
                p2p_host=str(p2p.get("host", "0.0.0.0")), p2p_port=int(p2p.get("port", 30333)),
                bootnodes=tuple(p2p.get("bootnodes", [])),
                validator_keystore=resolve(validator.get("keystore")),
                password_file=resolve(validator.get("password_file")),
                block_interval=float(raw.get("block_interval", 1.0)),
                timeouts={k: float(v) for k, v in (raw.get("timeouts") or {}).items()},
                metrics_port=int(raw["metrics_port"]) if raw.get("metrics_port") else None)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"config file {path}: {exc}") from None

    def with_overrides(self, **values: Any) -> "NodeConfig":
        return replace(self, **{k: v for k, v in values.items() if v is not None})

    def to_yaml(self, base: Path) -> str:
        import os
        rel = lambda p: os.path.relpath(Path(p).resolve(), base.resolve()) if p else None  # noqa: E731
        document: dict[str, Any] = {
            "datadir": rel(self.datadir), "genesis": rel(self.genesis),
            "http": {"addr": self.http_addr, "port": self.http_port, "ratelimit": self.rate_limit},
            "p2p": {"host": self.p2p_host, "port": self.p2p_port, "bootnodes": list(self.bootnodes)},
            "block_interval": self.block_interval,
        }
        if self.validator_keystore:
            document["validator"] = {"keystore": rel(self.validator_keystore),
                                     "password_file": rel(self.password_file)}
        if self.timeouts:
            document["timeouts"] = self.timeouts
        return yaml.safe_dump(document, sort_keys=False)
