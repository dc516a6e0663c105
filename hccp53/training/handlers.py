"""Ignite handlers the bundle's training configs attach besides MONAI's own."""

from __future__ import annotations

import logging
from pathlib import Path

from ignite.engine import Engine, Events

from hccp53.nets.weights import record_checksums

logger = logging.getLogger(__name__)


class ChecksumHandler:
    """Record the sha256 of every checkpoint in ``ckpt_dir`` after each epoch and at the end of a run.

    Attach it after the :class:`~monai.handlers.CheckpointSaver` so that the files it hashes are the
    ones just written (handlers run in the order they were attached).
    """

    def __init__(self, ckpt_dir: str | Path) -> None:
        self.ckpt_dir = Path(ckpt_dir)

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_COMPLETED, self)
        engine.add_event_handler(Events.COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        if self.ckpt_dir.is_dir():
            sums = record_checksums(self.ckpt_dir)
            logger.debug("checksums of %d checkpoint(s) recorded in %s", len(sums), self.ckpt_dir)
