"""The checkpoints a training run leaves in its folder: written so that a stop part-way never leaves a broken
one behind, and found again to resume the run.

MONAI's :class:`~monai.handlers.CheckpointSaver` writes straight into the final file and, before writing the
next epoch's, deletes the last one. A run killed during that write (a session's end, an out-of-memory kill)
leaves a truncated ``checkpoint_epoch=N.pt`` and nothing older, and resuming fails on a corrupt zip archive.
:class:`AtomicCheckpointSaver` writes each checkpoint to a hidden ``.NAME.partial`` file and renames it into
place, so a checkpoint on disk is always whole; with ``n_saved: 2`` the previous one survives the write too.
:func:`latest_checkpoint` passes over any unreadable file that older versions left.
"""

from __future__ import annotations

import logging
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from ignite.handlers.checkpoint import BaseSaveHandler
from monai.handlers import CheckpointSaver

from hccp53.errors import InputError

logger = logging.getLogger(__name__)

PREFIX = "checkpoint_epoch="


class AtomicFileSaver(BaseSaveHandler):
    """Ignite save handler: ``torch.save`` to ``.NAME.partial``, flushed to disk, then renamed to ``NAME``.

    ``filename`` fixes the name whatever ignite proposes (MONAI's best-metric and final files). A fixed
    file is never deleted: ignite removes the old file just before saving the new one, and the rename
    replaces it without leaving a moment with no file at all.
    """

    def __init__(self, dirname: str | Path, filename: str | None = None) -> None:
        self.dirname = Path(dirname)
        self.filename = filename

    def __call__(self, checkpoint: Mapping, filename: str, metadata: Mapping | None = None) -> None:
        self.dirname.mkdir(parents=True, exist_ok=True)
        path = self.dirname / (self.filename or filename)
        partial = path.with_name(f".{path.name}.partial")
        with open(partial, "wb") as stream:
            torch.save(checkpoint, stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(partial, path)

    def remove(self, filename: str) -> None:
        if self.filename is None:
            (self.dirname / filename).unlink(missing_ok=True)


class AtomicCheckpointSaver(CheckpointSaver):
    """:class:`~monai.handlers.CheckpointSaver` (same arguments) whose every file is written by
    :class:`AtomicFileSaver`."""

    def __init__(self, save_dir: str, save_dict: dict, **kwargs: Any) -> None:
        super().__init__(save_dir, save_dict, **kwargs)
        # MONAI builds one ignite Checkpoint per kind of file, each with its own non-atomic DiskSaver
        for checkpoint in (self._final_checkpoint, self._key_metric_checkpoint, self._interval_checkpoint):
            if checkpoint is not None:
                fixed = getattr(checkpoint.save_handler, "filename", None)
                checkpoint.save_handler = AtomicFileSaver(self.save_dir, fixed)


def readable(path: str | Path) -> bool:
    """Whether ``path`` is a whole ``torch.save`` archive (a truncated one has no zip central directory)."""
    return zipfile.is_zipfile(path)


def checkpoints(folder: str | Path, prefix: str = PREFIX) -> list[tuple[int, Path]]:
    """``(epoch, path)`` of every ``PREFIXN.pt`` in ``folder``, readable or not, lowest epoch first."""
    found = []
    for path in Path(folder).glob(f"{prefix}*.pt"):
        suffix = path.stem[len(prefix) :]
        if suffix.isdigit():
            found.append((int(suffix), path))
    return sorted(found)


def discard_unreadable(folder: str | Path, prefix: str = PREFIX) -> list[Path]:
    """Delete the truncated checkpoints in ``folder`` (a stop during a non-atomic write) and return them."""
    broken = [path for _, path in checkpoints(folder, prefix) if not readable(path)]
    for path in broken:
        logger.warning("%s is truncated (the run was stopped while writing it); deleted.", path)
        path.unlink()
    return broken


def latest_checkpoint(folder: str | Path, prefix: str = PREFIX) -> str:
    """Path of the readable checkpoint with the highest epoch in ``folder`` (what ``resume: true`` loads).

    Raises
    ------
    InputError
        If ``folder`` holds no readable such checkpoint.
    """
    found = [path for _, path in checkpoints(folder, prefix) if readable(path)]
    if not found:
        raise InputError(f"No readable {prefix}N.pt in {folder} to resume from; run without resume first.")
    return str(found[-1])
