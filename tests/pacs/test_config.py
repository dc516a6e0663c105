"""configs/serve.yaml and the command-line overrides: valid values pass, each mistake is one sentence."""

from __future__ import annotations

from pathlib import Path

import pytest

from hccp53.errors import ConfigError
from hccp53.pacs.config import DimseDestination, parse_destination, read_config


def test_the_shipped_settings_listen_on_loopback_only() -> None:
    config = read_config()
    assert config.host == "127.0.0.1" and config.loopback and config.ae_title == "HCCP53"
    assert config.destination is None and config.stow_url is None


def test_overrides_win_and_are_converted(tmp_path: Path) -> None:
    config = read_config(None, {"port": "11113", "destination": "ORTHANC@127.0.0.1:4242", "spool": str(tmp_path),
                                "allowed_calling_aets": ["ORTHANC"], "quiet_seconds": None})  # fmt: skip
    assert config.port == 11113 and config.destination == DimseDestination("ORTHANC", "127.0.0.1", 4242)
    assert config.spool == tmp_path and config.allowed_calling_aets == ("ORTHANC",) and config.quiet_seconds == 10


@pytest.mark.parametrize(("overrides", "message"), [
    ({"destination": "ORTHANC:4242"}, "is not AET@host:port"),
    ({"destination": "A@h:70000"}, "not between 1 and 65535"),
    ({"ae_title": "A" * 17}, "is not a DICOM AE title"),
    ({"allowed_calling_aets": ["BAD\\AET"]}, "is not a DICOM AE title"),
    ({"port": "eleven"}, "wrong kind of value"),
    ({"workers": 0}, "workers must be at least 1"),
    ({"destination": "A@h:1", "stow_url": "http://x/dicom-web"}, "not both"),
    ({"stow_url": "ftp://x"}, "must start with http"),
])  # fmt: skip
def test_bad_values_are_one_sentence(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        read_config(None, overrides)


def test_unknown_keys_and_bad_yaml(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("prot: 1\n")
    with pytest.raises(ConfigError, match="Unknown serve setting.*prot"):
        read_config(tmp_path / "a.yaml")
    (tmp_path / "b.yaml").write_text("port: [1\n")
    with pytest.raises(ConfigError, match="Cannot read the serve settings"):
        read_config(tmp_path / "b.yaml")
    with pytest.raises(ConfigError, match="Cannot read"):
        read_config(tmp_path / "missing.yaml")


def test_parse_destination() -> None:
    assert str(parse_destination(" PACS@pacs.example.org:104 ")) == "PACS@pacs.example.org:104"
