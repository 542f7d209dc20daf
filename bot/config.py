"""Reads the TOML config file; the dataclasses and the validation live in `handlers.config`."""
from __future__ import annotations

import os
import tomllib
from pathlib import Path

from handlers.config import Config, ConfigError, parse_config

DEFAULT_PATH = "config.toml"

__all__ = ["Config", "ConfigError", "DEFAULT_PATH", "load_config", "resolve_path"]


def resolve_path(cli_path: str | None) -> str:
    return cli_path or os.environ.get("BOT_CONFIG") or DEFAULT_PATH


def load_config(path: str) -> Config:
    p = Path(path)
    if not p.is_file():
        raise ConfigError([f"config file not found: {path}"], None)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(["the file is not UTF-8 text"], path) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"not valid TOML ({exc})"], path) from None
    return parse_config(raw, path=path, env=os.environ)
