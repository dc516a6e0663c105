"""Publishing fine-tuned weights so that the infer task never reads a half-published pair.

A fine-tuning run (a separate process) publishes its best model as ``MODEL_DIR/tumor_segmentation.pt``
and records its sha256 in ``MODEL_DIR/checksums.json``; the infer task loads the pair with
:func:`hccp53.nets.weights.load_weights`, which refuses a file whose checksum differs. Both sides hold
one file lock (``MODEL_DIR/.publish.lock``) while they write or read the pair, so a request that
arrives mid-publication waits for it instead of failing.
"""

from __future__ import annotations

import filecmp
import logging
import os
import shutil
from pathlib import Path

from filelock import FileLock

from hccp53.checksums import record_checksums
from lib.bundle import WEIGHTS

logger = logging.getLogger(__name__)

LOCK = ".publish.lock"


def publish_lock(folder: str | Path) -> FileLock:
    """The lock guarding ``folder``'s weights and ``checksums.json``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return FileLock(str(folder / LOCK))


def publish(source: str | Path, folder: str | Path) -> bool:
    """Copy ``source`` to ``folder/tumor_segmentation.pt`` with its checksum, unless it is already there.

    Returns whether a new file was published.
    """
    source, folder = Path(source), Path(folder)
    target = folder / WEIGHTS
    if not source.is_file():
        return False
    with publish_lock(folder):
        if target.is_file() and filecmp.cmp(source, target, shallow=False):
            return False
        partial = folder / f".{WEIGHTS}.partial"
        shutil.copyfile(source, partial)
        os.replace(partial, target)
        record_checksums(folder, pattern=WEIGHTS)
    logger.info("Published fine-tuned weights %s.", target)
    return True
