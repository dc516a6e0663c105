"""The settings of ``hccp53 serve``: ``configs/serve.yaml`` (plain values), overridden by command-line options."""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import hccp53
from hccp53.errors import ConfigError

logger = logging.getLogger(__name__)

CONFIG = Path(hccp53.__file__).resolve().parents[1] / "configs" / "serve.yaml"
_AE_TITLE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")  # PS3.5 AE VR: 16 characters, no backslash, no control
_DESTINATION = re.compile(r"^(?P<aet>[^@]{1,16})@(?P<host>[^:@]+):(?P<port>\d{1,5})$")


@dataclass(frozen=True)
class DimseDestination:
    """A C-STORE SCP to send results to, written ``AET@host:port``."""

    ae_title: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.ae_title}@{self.host}:{self.port}"


def parse_destination(text: str) -> DimseDestination:
    """``"ORTHANC@127.0.0.1:4242"`` -> :class:`DimseDestination`.

    Raises
    ------
    ConfigError
        The text is not ``AET@host:port`` with a valid AE title and port.
    """
    match = _DESTINATION.match(text.strip())
    if match is None:
        raise ConfigError(f"The destination {text!r} is not AET@host:port (for example ORTHANC@127.0.0.1:4242).")
    check_ae_title(match["aet"], "destination AE title")
    port = int(match["port"])
    if not 0 < port < 65536:
        raise ConfigError(f"The destination port {port} is not between 1 and 65535.")
    return DimseDestination(match["aet"], match["host"], port)


def check_ae_title(title: str, what: str) -> str:
    """Return ``title`` if it is a valid AE title (PS3.5 6.2: up to 16 characters, no backslash)."""
    if not isinstance(title, str) or not _AE_TITLE.match(title) or not title.strip():
        raise ConfigError(f"The {what} {title!r} is not a DICOM AE title (1 to 16 printable characters, no "
                          "backslash).")  # fmt: skip
    return title


@dataclass(frozen=True)
class ServeConfig:
    """What ``configs/serve.yaml`` holds; see the comments there for each value."""

    ae_title: str = "HCCP53"
    host: str = "127.0.0.1"
    port: int = 11112
    allowed_calling_aets: tuple[str, ...] = ()
    spool: Path = Path("runs/spool")
    models: Path = Path("models")
    quiet_seconds: float = 10.0
    workers: int = 1
    destination: DimseDestination | None = None
    stow_url: str | None = None
    send_pdf: bool = True
    retry_base_seconds: float = 5.0
    retry_max_seconds: float = 600.0
    network_timeout_seconds: float = 30.0
    max_pdu: int = 65536

    @property
    def loopback(self) -> bool:
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return self.host == "localhost"


def read_config(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> ServeConfig:
    """The settings of ``path`` (default ``configs/serve.yaml``) with ``overrides`` (None values ignored).

    Raises
    ------
    ConfigError
        Unreadable YAML, an unknown key, or a value of the wrong kind (one sentence naming it).
    """
    import yaml

    source = Path(path) if path is not None else CONFIG
    try:
        values = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"Cannot read the serve settings {source} ({error}).") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{source} must be a mapping of settings, not {type(values).__name__}.")
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    known = {f.name for f in fields(ServeConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"Unknown serve setting(s) {', '.join(unknown)} in {source}; known: "
                          f"{', '.join(sorted(known))}.")
    return _validated(replace(ServeConfig(), **{k: _convert(k, v, source) for k, v in values.items()}), source)


def _convert(key: str, value: Any, source: Path) -> Any:
    numbers = {"port": int, "workers": int, "max_pdu": int, "quiet_seconds": float, "retry_base_seconds": float,
               "retry_max_seconds": float, "network_timeout_seconds": float}  # fmt: skip
    try:
        if key in numbers:
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise TypeError
            return numbers[key](value)
        if key in ("spool", "models"):
            return Path(str(value))
        if key == "allowed_calling_aets":
            titles = [value] if isinstance(value, str) else list(value or ())
            return tuple(check_ae_title(t, "allowed calling AE title") for t in titles)
        if key == "destination":
            if value is None or isinstance(value, DimseDestination):
                return value
            return parse_destination(str(value))
        if key == "send_pdf":
            if not isinstance(value, bool):
                raise TypeError
            return value
        if key in ("ae_title", "host", "stow_url"):
            return None if value is None else str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"The serve setting {key} = {value!r} in {source} has the wrong kind of value.") from None
    return value


def _validated(config: ServeConfig, source: Path) -> ServeConfig:
    check_ae_title(config.ae_title, "AE title (ae_title)")
    if not 0 < config.port < 65536:
        raise ConfigError(f"The port {config.port} is not between 1 and 65535.")
    if config.workers < 1:
        raise ConfigError(f"workers must be at least 1, not {config.workers}.")
    retry = (config.retry_base_seconds, config.retry_max_seconds)
    if config.quiet_seconds < 0 or not 0 < retry[0] <= retry[1]:
        raise ConfigError(f"{source}: quiet_seconds must be >= 0 and 0 < retry_base_seconds <= retry_max_seconds.")
    if config.network_timeout_seconds <= 0:
        raise ConfigError("network_timeout_seconds must be positive.")
    if config.destination is not None and config.stow_url is not None:
        raise ConfigError("Give either a C-STORE destination or a STOW-RS URL, not both.")
    if config.stow_url is not None and not re.match(r"^https?://", config.stow_url):
        raise ConfigError(f"The STOW-RS URL {config.stow_url!r} must start with http:// or https://.")
    return config
