"""Checkpoints survive a stop part-way through their write, and resuming finds the newest readable one."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from ignite.engine import Engine, Events

from hccp53.errors import InputError
from hccp53.training.checkpoints import AtomicCheckpointSaver, AtomicFileSaver, discard_unreadable, latest_checkpoint
from hccp53.training.runner import training_state


def _save(path: Path, epoch: int) -> None:
    torch.save({"epoch": torch.tensor(epoch)}, path)


def _truncate(path: Path) -> None:
    """What a kill during ``torch.save`` leaves: the start of the archive, without its central directory."""
    path.write_bytes(path.read_bytes()[:200])


def test_latest_checkpoint_is_numeric(tmp_path: Path) -> None:
    for name in ("checkpoint_epoch=3.pt", "checkpoint_epoch=12.pt", "checkpoint_epoch=best.pt", "model.pt"):
        _save(tmp_path / name, 0)
    assert Path(latest_checkpoint(tmp_path)).name == "checkpoint_epoch=12.pt"


def test_latest_checkpoint_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"No readable checkpoint_epoch=N.pt in .* to resume from") as error:
        latest_checkpoint(tmp_path)
    assert "\n" not in str(error.value)


def test_truncated_checkpoint_is_passed_over_then_discarded(tmp_path: Path) -> None:
    """The failure seen on 2026-12-07: a run stopped while writing epoch 6 could not be resumed."""
    _save(tmp_path / "checkpoint_epoch=5.pt", 5)
    _save(tmp_path / "checkpoint_epoch=6.pt", 6)
    _truncate(tmp_path / "checkpoint_epoch=6.pt")
    assert Path(latest_checkpoint(tmp_path)).name == "checkpoint_epoch=5.pt"
    assert training_state(tmp_path) == "partial"
    assert discard_unreadable(tmp_path) == [tmp_path / "checkpoint_epoch=6.pt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint_epoch=5.pt"]


def test_only_a_truncated_checkpoint_means_a_new_run(tmp_path: Path) -> None:
    _save(tmp_path / "checkpoint_epoch=6.pt", 6)
    _truncate(tmp_path / "checkpoint_epoch=6.pt")
    assert training_state(tmp_path) == "new"
    with pytest.raises(InputError, match="No readable"):
        latest_checkpoint(tmp_path)


def test_a_save_stopped_part_way_leaves_the_old_file_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    saver = AtomicFileSaver(tmp_path, filename="p53_classifier.pt")
    saver({"weight": torch.ones(3)}, "ignored.pt")
    saver.remove("ignored.pt")  # ignite removes the old best file before saving the new one: kept until replaced

    def stopped(obj: object, stream: object) -> None:
        stream.write(b"PK\x03\x04 half an archive")  # type: ignore[attr-defined]
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", stopped)
    with pytest.raises(KeyboardInterrupt):
        saver({"weight": torch.zeros(3)}, "ignored.pt")
    monkeypatch.undo()
    kept = torch.load(tmp_path / "p53_classifier.pt", weights_only=True)
    assert torch.equal(kept["weight"], torch.ones(3))
    # the next save replaces the half-written partial file as well as the old one
    saver({"weight": torch.full((3,), 2.0)}, "ignored.pt")
    assert torch.equal(torch.load(tmp_path / "p53_classifier.pt", weights_only=True)["weight"], torch.full((3,), 2.0))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p53_classifier.pt"]


def test_saver_keeps_the_last_two_epochs_whole(tmp_path: Path) -> None:
    network = torch.nn.Linear(2, 1)
    engine = Engine(lambda engine, batch: None)
    contents = {"model": network, "optimizer": torch.optim.SGD(network.parameters(), lr=0.1)}  # as in the configs
    saver = AtomicCheckpointSaver(str(tmp_path), contents, save_interval=1, n_saved=2)
    saver.attach(engine)
    seen = []
    engine.add_event_handler(Events.EPOCH_COMPLETED, lambda e: seen.append(sorted(p.name for p in tmp_path.iterdir())))
    engine.run([0], max_epochs=4)
    assert seen[-1] == ["checkpoint_epoch=3.pt", "checkpoint_epoch=4.pt"]
    loaded = torch.load(latest_checkpoint(tmp_path), weights_only=True)
    assert torch.equal(loaded["model"]["weight"], network.weight)


@pytest.mark.parametrize("config", ["train_classifier.yaml", "train_segmentation.yaml"])
def test_training_configs_write_every_checkpoint_whole(config: str) -> None:
    import yaml

    from hccp53.training.runner import CONFIG_DIR

    parsed = yaml.safe_load((CONFIG_DIR / config).read_text(encoding="utf-8"))
    savers = [h for part in ("train", "validate") for h in parsed[part]["handlers"] if "Checkpoint" in h["_target_"]]
    savers = [h for h in savers if "Loader" not in h["_target_"]]
    assert len(savers) == 2
    assert all(h["_target_"] == "hccp53.training.checkpoints.AtomicCheckpointSaver" for h in savers)
