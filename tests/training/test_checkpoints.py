"""Resuming a run: the checkpoint with the highest epoch, or one sentence when there is none."""

from __future__ import annotations

from pathlib import Path

import pytest

from hccp53.errors import InputError
from hccp53.training.checkpoints import latest_checkpoint


def test_latest_checkpoint_is_numeric(tmp_path: Path) -> None:
    for name in ("checkpoint_epoch=3.pt", "checkpoint_epoch=12.pt", "checkpoint_epoch=best.pt", "model.pt"):
        (tmp_path / name).write_bytes(b"")
    assert Path(latest_checkpoint(tmp_path)).name == "checkpoint_epoch=12.pt"


def test_latest_checkpoint_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"No checkpoint_epoch=N.pt in .* to resume from") as error:
        latest_checkpoint(tmp_path)
    assert "\n" not in str(error.value)
