"""Node configuration: a YAML file (written by ``azora testnet init``) plus CLI overrides."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from kernel.limits import CALL_GAS_CAP, EVM_TIMEOUT, CallLimits


class ConfigError(Exception):
    """A configuration that cannot run; the message names the key."""


_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(h|ms|m|s))+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def parse_duration(text: str | float | int) -> float:
    """Seconds from a Go-style duration as geth's flags take them ("5s", "500ms", "1m30s")
    or a plain number of seconds."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    elif isinstance(text, str) and _DURATION.match(text.strip()):
        value = sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))
    else:
        try:
            value = float(str(text))
        except ValueError:
            raise ValueError(f"invalid duration {text!r} (e.g. 5s, 500ms, 1m)") from None
    if value < 0:
        raise ValueError(f"invalid duration {text!r}: negative")
    return value


@dataclass(frozen=True)
class RpcLimits:
    """What JSON-RPC clients may ask of the node; each documented in docs/operations.md.

    0 turns a limit off (as geth's ``--rpc.evmtimeout 0`` and ``--rpc.gascap 0`` do).
    """

    evm_timeout: float = EVM_TIMEOUT        # seconds one call/estimate/trace may run (geth's 5 s)
    gas_cap: int = CALL_GAS_CAP             # gas one call/estimate/trace may use (geth's 50M)
    logs_max_range: int = 10_000            # blocks one eth_getLogs may span
    logs_max_results: int = 10_000          # logs one eth_getLogs may return
    max_filters: int = 1_000                # polling filters installed per client address
    max_subscriptions: int = 1_000          # eth_subscribe subscriptions per WebSocket

    @property
    def call_limits(self) -> CallLimits:
        return CallLimits(self.evm_timeout, self.gas_cap)

    @classmethod
    def from_yaml(cls, raw: dict[str, Any]) -> "RpcLimits":
        """The ``rpc:`` section of a config file (keys as in :meth:`to_yaml`)."""
        if not isinstance(raw, dict):
            raise ValueError("'rpc' must be a mapping of limits")
        unknown = set(raw) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown rpc settings: {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {k: int(v) for k, v in raw.items() if k != "evm_timeout"}
        if "evm_timeout" in raw:
            values["evm_timeout"] = parse_duration(raw["evm_timeout"])
        limits = cls(**values)
        limits.check()
        return limits

    def to_yaml(self) -> dict[str, Any]:
        return asdict(self)

    def check(self) -> None:
        negative = [name for name, value in asdict(self).items() if value < 0]
        if negative:
            raise ValueError(f"rpc limits cannot be negative: {', '.join(negative)}")

    def with_overrides(self, **values: Any) -> "RpcLimits":
        limits = replace(self, **{k: v for k, v in values.items() if v is not None})
        limits.check()
        return limits


def _non_negative(value: Any, key: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError(f"{key} cannot be negative")
    return number


@dataclass(frozen=True)
class NodeConfig:
    datadir: Path
    genesis: Path | None = None
    http_addr: str = "127.0.0.1"
    http_port: int = 8545
    cors: tuple[str, ...] = ("localhost",)
    rate_limit: float = 0.0
    vhosts: tuple[str, ...] = ("localhost",)
    p2p_host: str = "0.0.0.0"
    p2p_port: int = 30333
    bootnodes: tuple[str, ...] = ()
    direct_peers: tuple[str, ...] = ()
    validator_keystore: Path | None = None
    password_file: Path | None = None
    block_interval: float = 1.0
    timeouts: dict[str, float] = field(default_factory=dict)
    metrics_port: int | None = None
    rpc_limits: RpcLimits = RpcLimits()
    # CometBFT's double_sign_check_height: commits a starting validator searches for its own
    # signature before it signs (0: no check).
    double_sign_check_height: int = 2

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
                cors=tuple(http.get("cors", ["localhost"])), rate_limit=float(http.get("ratelimit", 0)),
                vhosts=tuple(http.get("vhosts", ["localhost"])),
                p2p_host=str(p2p.get("host", "0.0.0.0")), p2p_port=int(p2p.get("port", 30333)),
                bootnodes=tuple(p2p.get("bootnodes", [])), direct_peers=tuple(p2p.get("direct_peers", [])),
                validator_keystore=resolve(validator.get("keystore")),
                password_file=resolve(validator.get("password_file")),
                block_interval=float(raw.get("block_interval", 1.0)),
                timeouts={k: float(v) for k, v in (raw.get("timeouts") or {}).items()},
                metrics_port=int(raw["metrics_port"]) if raw.get("metrics_port") else None,
                rpc_limits=RpcLimits.from_yaml(raw.get("rpc") or {}),
                double_sign_check_height=_non_negative(raw.get("double_sign_check_height", 2),
                                                       "double_sign_check_height"))
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
            "p2p": {"host": self.p2p_host, "port": self.p2p_port, "bootnodes": list(self.bootnodes),
                    "direct_peers": list(self.direct_peers)},
            "block_interval": self.block_interval,
            "rpc": self.rpc_limits.to_yaml(),
        }
        if self.validator_keystore:
            document["validator"] = {"keystore": rel(self.validator_keystore),
                                     "password_file": rel(self.password_file)}
        if self.timeouts:
            document["timeouts"] = self.timeouts
        return yaml.safe_dump(document, sort_keys=False)
