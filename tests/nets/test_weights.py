"""Weights on disk: recorded sha256 checksums and safe loading (``weights_only=True``)."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest
import torch
from torch import nn

from hccp53.checksums import CHECKSUMS, expected_checksum, record_checksums, sha256_of
from hccp53.errors import InputError
from hccp53.nets import build_classifier
from hccp53.nets.weights import load_weights


class Payload:
    """An arbitrary object: unpickling it would run code chosen by whoever wrote the file."""

    def __init__(self) -> None:
        self.command = "echo owned"


def _net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))


def _assert_equal_state(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


def test_record_checksums_matches_hashlib(tmp_path: Path) -> None:
    torch.save(_net(0).state_dict(), tmp_path / "a.pt")
    torch.save(_net(1).state_dict(), tmp_path / "b.pt")
    (tmp_path / "notes.txt").write_text("not weights")
    sums = record_checksums(tmp_path)
    expected = {name: hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() for name in ("a.pt", "b.pt")}
    assert sums == expected
    assert json.loads((tmp_path / CHECKSUMS).read_text()) == expected
    assert sha256_of(tmp_path / "a.pt") == expected["a.pt"]
    assert expected_checksum(tmp_path / "b.pt") == expected["b.pt"]
    assert expected_checksum(tmp_path / "notes.txt") is None
    assert not list(tmp_path.glob(f".{CHECKSUMS}*"))


@pytest.mark.parametrize("wrapped", [False, True], ids=["plain", "model_key"])
def test_load_plain_and_wrapped_state_dict(tmp_path: Path, wrapped: bool) -> None:
    saved = _net(0)
    state = saved.state_dict()
    torch.save({"model": state, "epoch": 3} if wrapped else state, tmp_path / "w.pt")
    record_checksums(tmp_path)
    fresh = _net(1)
    assert load_weights(fresh, tmp_path / "w.pt") is fresh
    _assert_equal_state(fresh, saved)


def test_load_into_project_classifier(tmp_path: Path) -> None:
    torch.manual_seed(0)
    saved = build_classifier("efficientnetv2_tiny", ["pvp"], spatial_dims=2)
    torch.save({"model": saved.state_dict()}, tmp_path / "clf.pt")
    record_checksums(tmp_path)
    torch.manual_seed(1)
    fresh = build_classifier("efficientnetv2_tiny", ["pvp"], spatial_dims=2)
    load_weights(fresh, tmp_path / "clf.pt")
    _assert_equal_state(fresh, saved)


def test_refuses_changed_bytes(tmp_path: Path) -> None:
    path = tmp_path / "w.pt"
    torch.save(_net(0).state_dict(), path)
    record_checksums(tmp_path)
    torch.save(_net(1).state_dict(), path)  # a swapped file: still a valid state dict, other bytes
    with pytest.raises(InputError, match=r"w\.pt has sha256 .* not the recorded .* corrupt") as error:
        load_weights(_net(2), path)
    assert "\n" not in str(error.value)
    data = bytearray(path.read_bytes())
    record_checksums(tmp_path)
    data[-1] ^= 0xFF  # a corrupted copy
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"not the recorded"):
        load_weights(_net(2), path)


def test_unknown_checksum(tmp_path: Path) -> None:
    saved = _net(0)
    path = tmp_path / "w.pt"
    torch.save(saved.state_dict(), path)
    with pytest.raises(InputError, match=r"No checksum recorded for w\.pt"):
        load_weights(_net(1), path)
    (tmp_path / CHECKSUMS).write_text(json.dumps({"other.pt": "0" * 64}))
    with pytest.raises(InputError, match=r"No checksum recorded for w\.pt"):
        load_weights(_net(1), path, require_checksum=True)
    fresh = load_weights(_net(1), path, sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    _assert_equal_state(fresh, saved)
    with pytest.raises(InputError, match=r"not the recorded"):
        load_weights(_net(1), path, sha256="0" * 64)
    fresh = load_weights(_net(2), path, require_checksum=False)
    _assert_equal_state(fresh, saved)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope\.pt does not exist"):
        load_weights(_net(0), tmp_path / "nope.pt", require_checksum=False)


def test_other_architecture_does_not_fit(tmp_path: Path) -> None:
    torch.save(nn.Linear(4, 2).state_dict(), tmp_path / "other.pt")
    torch.save(nn.Sequential(nn.Linear(5, 3), nn.ReLU(), nn.Linear(3, 2)).state_dict(), tmp_path / "sized.pt")
    record_checksums(tmp_path)
    for name in ("other.pt", "sized.pt"):
        with pytest.raises(InputError, match=rf"{name[:-3]}\.pt does not fit the configured network") as error:
            load_weights(_net(0), tmp_path / name)
        assert "\n" not in str(error.value)


def test_weights_only_refuses_arbitrary_objects(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"model": _net(0).state_dict(), "payload": Payload()}, path)
    record_checksums(tmp_path)
    # The file's pickle names the Payload class, so a full unpickle would rebuild it (read, never executed here).
    with zipfile.ZipFile(path) as archive:
        pickle_name = next(name for name in archive.namelist() if name.endswith("/data.pkl"))
        assert b"Payload" in archive.read(pickle_name)
    with pytest.raises(InputError, match=r"evil\.pt cannot be read as a torch state dict"):
        load_weights(_net(1), path)


def test_not_a_torch_file(tmp_path: Path) -> None:
    (tmp_path / "junk.pt").write_bytes(b"junk")
    record_checksums(tmp_path)
    with pytest.raises(InputError, match=r"junk\.pt cannot be read"):
        load_weights(_net(0), tmp_path / "junk.pt")
