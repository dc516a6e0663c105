"""The bundle's metadata.json: valid against the model-zoo schema offline, and true to the training configs."""

from __future__ import annotations

import copy
import json
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import monai.apps.utils
import pytest
from monai.bundle import ConfigParser, verify_metadata

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"
METADATA = CONFIGS / "metadata.json"
SCHEMA = CONFIGS / "schema" / "meta_schema_20240725.json"
SCHEMA_MD5 = "76e1add273836515d0bbb3bc71962474"  # of the verbatim copy: see configs/schema/README.md


class NetworkUsed(AssertionError):
    """Raised by the offline guard: something tried to reach the network."""


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any download MONAI attempts, and any socket connection at all."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise NetworkUsed(f"network access attempted: {args[:1]}")

    for name in ("urlretrieve", "urlopen", "_download_with_progress"):
        monkeypatch.setattr(monai.apps.utils, name, refuse)
    monkeypatch.setattr("urllib.request.urlopen", refuse)
    monkeypatch.setattr("urllib.request.urlretrieve", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


@pytest.fixture(scope="module", autouse=True)
def needs_jsonschema() -> None:
    try:
        import jsonschema  # noqa: F401
    except ImportError:  # MONAI imports it optionally: without it verify_metadata cannot validate at all
        pytest.fail("jsonschema is not installed: monai.bundle.verify_metadata needs it (pin it in requirements.txt)")


def metadata() -> dict[str, Any]:
    return json.loads(METADATA.read_text())


def verify(meta_file: Path) -> None:
    verify_metadata(meta_file=str(meta_file), filepath=str(SCHEMA), hash_val=SCHEMA_MD5, hash_type="md5")


def raw_config(name: str) -> ConfigParser:
    parser = ConfigParser()
    parser.read_config(str(CONFIGS / name))
    return parser


def test_metadata_is_valid_offline() -> None:
    assert SCHEMA.name == Path(metadata()["schema"]).name  # the copy is the schema the metadata names
    verify(METADATA)


def test_the_offline_guard_is_live(tmp_path: Path) -> None:
    """Without the local copy verify_metadata would download the schema: the guard must stop that."""
    with pytest.raises(NetworkUsed):
        verify_metadata(meta_file=str(METADATA), filepath=str(tmp_path / "schema.json"))


def _drop_version(meta: dict[str, Any]) -> None:
    del meta["version"]


def _string_channels(meta: dict[str, Any]) -> None:
    meta["network_data_format"]["inputs"]["image"]["num_channels"] = "3"


def _no_outputs(meta: dict[str, Any]) -> None:
    del meta["network_data_format"]["outputs"]


def _bad_segmentation_channels(meta: dict[str, Any]) -> None:
    meta["segmentation_data_format"]["outputs"]["pred"]["num_channels"] = "two"


def _references_not_a_list(meta: dict[str, Any]) -> None:
    meta["references"] = "; ".join(meta["references"])


@pytest.mark.parametrize(
    "breakage", [_drop_version, _string_channels, _no_outputs, _bad_segmentation_channels, _references_not_a_list]
)
def test_broken_metadata_is_rejected(tmp_path: Path, breakage: Any) -> None:
    meta = copy.deepcopy(metadata())
    breakage(meta)
    broken = tmp_path / "metadata.json"
    broken.write_text(json.dumps(meta, indent=2))
    with pytest.raises(ValueError, match="Failed validating"):
        verify(broken)


def test_classifier_input_matches_its_training_config() -> None:
    parser = raw_config("train_classifier.yaml")
    phases = list(parser.get("phases"))
    image = metadata()["network_data_format"]["inputs"]["image"]
    channel_def = image["channel_def"]
    channels = [*phases, "mask"] if parser.get("mask_channel") else phases
    assert [channel_def[str(i)] for i in range(len(channel_def))] == channels
    assert image["num_channels"] == len(channels)
    assert image["spatial_shape"] == list(parser.get("crop_size"))
    pred = metadata()["network_data_format"]["outputs"]["pred"]
    assert pred["num_channels"] == parser.get("network_def")["num_classes"]


def test_segmentation_input_matches_its_training_config() -> None:
    parser = raw_config("train_segmentation.yaml")
    phases = list(parser.get("phases"))
    fmt = metadata()["segmentation_data_format"]
    image = fmt["inputs"]["image"]
    channel_def = image["channel_def"]
    assert [channel_def[str(i)] for i in range(len(channel_def))] == phases
    assert image["num_channels"] == len(phases)
    assert image["spatial_shape"] == list(parser.get("patch_size"))
    pred = fmt["outputs"]["pred"]
    classes = list(parser.get_parsed_content("network_description#output_classes"))
    assert pred["num_channels"] == parser.get_parsed_content("network_description#network_args#out_channels") == \
        len(classes)
    assert [pred["channel_def"][str(i)] for i in range(pred["num_channels"])] == classes


def test_intended_use_is_research_only() -> None:
    text = metadata()["intended_use"].lower()
    assert "research use only" in text and "synthetic" in text and "not for clinical use" in text


def test_logging_conf_loads() -> None:
    """fileConfig replaces the process's handlers: load it in a child so this process keeps its own."""
    code = (
        "import logging, logging.config, sys\n"
        "logging.config.fileConfig(sys.argv[1], disable_existing_loggers=False)\n"
        "logging.getLogger('hccp53.check').info('hello')\n"
        "logging.getLogger('hccp53.check').debug('hidden')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(CONFIGS / "logging.conf")], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"\d\d:\d\d:\d\d INFO    hccp53\.check: hello\n", done.stdout), done.stdout
    assert done.stderr == ""


def test_the_demo_models_folder_describes_both_networks() -> None:
    """models/segmentation.json is train_segmentation.yaml's description (`hccp53 train segmentation` wrote it
    with the weights); the records name the weights beside them."""
    from hccp53.model import read_model
    from hccp53.model.record import segmentation_description

    record = read_model(CONFIGS.parent / "models")
    described = segmentation_description(CONFIGS / "train_segmentation.yaml", {"reference_phase": "pvp"})
    assert {k: record.segmentation[k] for k in described} == described
    assert record.phases == ("t2", "ap", "pvp") and record.threshold == 0.5
    assert record.uid.startswith("2.25.") and len(record.uid) <= 64


def test_the_demo_classifier_describes_the_trained_network() -> None:
    """models/network.json (read by `hccp53 evaluate` and the report step) equals train_classifier.yaml."""
    from monai.bundle import ConfigParser

    from hccp53.model.record import NETWORK_KEYS

    parser = ConfigParser()
    parser.read_config(str(CONFIGS / "train_classifier.yaml"))
    network = json.loads((CONFIGS.parent / "models" / "network.json").read_text())
    assert set(NETWORK_KEYS) <= set(network)
    for key in (*NETWORK_KEYS, "mask_channel"):
        assert network[key] == parser.get(key), key
    # published by `hccp53 train`: checked by the collapse guard, calibrated (docs/training.md)
    assert network["validation"]["probability_sd"] > 0.05 and "calibration" in network
