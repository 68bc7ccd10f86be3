"""The process's logging: ``--log-level`` and ``--log-format text|json`` on every command.

Text is one line per record with a timestamp; JSON is one object per line (``time`` in UTC
ISO 8601, ``level``, ``logger``, ``message``, ``exception`` when there is one) for log shippers.
Every record goes through the root handler, libp2p's and hypercorn's included.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import datetime, timezone

LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
TEXT_FORMAT = "%(asctime)s %(levelname)-5s %(name)s: %(message)s"
# Libraries whose INFO/DEBUG lines drown the node's own.
NOISY_LOGGERS = ("eth", "trie", "hypercorn.error", "hypercorn.access")


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        out = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
               "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out)


def parse_log_level(value: str) -> str:
    level = value.upper()
    if level not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"unknown log level {value!r} (choose from {', '.join(LOG_LEVELS).lower()})")
    return level


def add_logging_flags(parser: argparse.ArgumentParser, *, default: bool) -> None:
    """The flags on ``parser``; a subcommand's (``default=False``) set them only when given, so
    ``azora --log-level debug dev`` and ``azora dev --log-level debug`` mean the same."""
    parser.add_argument("--log-level", type=parse_log_level, default="INFO" if default else argparse.SUPPRESS,
                        help="CRITICAL, ERROR, WARNING, INFO (default) or DEBUG")
    parser.add_argument("--log-format", choices=LOG_FORMATS, default="text" if default else argparse.SUPPRESS,
                        help="text (default) or json: one JSON object per line")


def add_logging_flags_to_subcommands(parser: argparse.ArgumentParser) -> None:
    """The flags on every subcommand, however deep (``node run``, ``oracle run``, ...)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for subparser in set(action.choices.values()):
                add_logging_flags(subparser, default=False)
                add_logging_flags_to_subcommands(subparser)


def configure_logging(level: str, log_format: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
