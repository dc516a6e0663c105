"""The checkpoints a training run leaves in its folder, found again to resume it."""

from __future__ import annotations

from pathlib import Path

from hccp53.errors import InputError


def latest_checkpoint(folder: str | Path, prefix: str = "checkpoint_epoch=") -> str:
    """Path of the resumable checkpoint with the highest epoch in ``folder`` (what ``resume: true`` loads).

    Raises
    ------
    InputError
        If ``folder`` holds no such checkpoint.
    """
    found = []
    for path in Path(folder).glob(f"{prefix}*.pt"):
        suffix = path.stem[len(prefix) :]
        if suffix.isdigit():
            found.append((int(suffix), path))
    if not found:
        raise InputError(f"No {prefix}N.pt in {folder} to resume from; run without resume first.")
    return str(max(found)[1])
