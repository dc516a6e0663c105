"""Score the cases of a datalist with trained P53 classifiers (the deep-learning columns of an evaluation).

A trained classifier folder (``hccp53 train classifier --out DIR``, :mod:`hccp53.model`) holds
``p53_classifier.pt``, its sha256 in ``checksums.json`` and ``network.json`` (backbone, fusion, phases, crop), so
that it can be rebuilt without the config it was trained with. Classifiers that crop alike share one pass over the
data: the crop is made once with every phase any of them needs, and each model takes its own channels
(normalisation is per phase, so this is the same tensor as a crop of its phases alone).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hccp53 import PHASES
from hccp53.errors import HccP53Error, InputError
from hccp53.model.record import OPTIONAL_NETWORK_KEYS, read_classifier_record

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class TrainedClassifier:
    """A trained classifier folder and the network it describes."""

    name: str
    folder: Path
    network: Mapping[str, Any]

    @property
    def phases(self) -> tuple[str, ...]:
        return tuple(self.network["phases"])

    @property
    def mask_channel(self) -> bool:
        return bool(self.network.get("mask_channel", OPTIONAL_NETWORK_KEYS["mask_channel"]))

    @property
    def crop(self) -> tuple[tuple[float, ...], tuple[int, ...]]:
        return tuple(self.network["crop_spacing_mm"]), tuple(self.network["crop_size"])


def read_classifier(name: str, folder: str | Path) -> TrainedClassifier:
    """Read a trained classifier folder (weights are loaded later, checksum first).

    Raises
    ------
    InputError
        The folder, its weights or its ``network.json`` are missing.
    ConfigError
        ``network.json`` is unreadable or lacks a key.
    """
    try:
        return TrainedClassifier(name, Path(folder), read_classifier_record(folder))
    except HccP53Error as error:
        raise type(error)(f"Model {name!r}: {error}") from None


def score_cases(
    models: Sequence[TrainedClassifier],
    cases: Sequence[Mapping[str, Any]],
    device: str | None = None,
    batch_size: int = 8,
    workers: int = 0,
    progress: bool = True,
    cache_dir: str | Path | None = None,
) -> pd.DataFrame:
    """P(P53-mutated) of every case by every model, on crops centred on the case's tumor mask.

    Parameters
    ----------
    models
        Trained classifiers (see :func:`read_classifier`).
    cases
        Datalist cases with absolute paths (``hccp53.training.select_cases``): phases, ``mask``, ``case_id``.
    cache_dir
        Keep each case's crop there (MONAI ``PersistentDataset``, keyed by the case's files and the
        preprocessing), so that scoring the same cases again, with other models of the same crop, reads
        the crops instead of recomputing them. ``None``: no cache.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``case_id``, one column per model.
    """
    import torch
    from monai.data import DataLoader, Dataset, PersistentDataset
    from monai.data.utils import pickle_hashing
    from monai.transforms import Compose, EnsureTyped
    from tqdm.auto import tqdm

    from hccp53.model.load import load_classifier_network, torch_device
    from hccp53.transforms import IMAGE, classifier_transforms

    where = torch_device(device)
    ids = [str(c["case_id"]) for c in cases]
    out = pd.DataFrame(index=pd.Index(ids, name="case_id"))
    groups: dict[tuple, list[TrainedClassifier]] = {}
    for model in models:
        groups.setdefault(model.crop, []).append(model)
    for (spacing, size), members in groups.items():
        union = [p for p in PHASES if any(p in m.phases for m in members)]
        for case in cases:
            missing = [p for p in (*union, "mask") if p not in case]
            if missing:
                raise InputError(f"Case {case.get('case_id', '?')} has no {', '.join(missing)}; the models "
                                 f"{', '.join(m.name for m in members)} need them.")  # fmt: skip
        networks = {m.name: load_classifier_network(m.folder, where) for m in members}
        # one crop of every phase any member needs, plus the mask last when a member takes it
        with_mask = any(m.mask_channel for m in members)
        channels = {m.name: [union.index(p) for p in m.phases] + ([len(union)] if m.mask_channel else [])
                    for m in members}  # fmt: skip
        data = [{k: c[k] for k in ("case_id", "mask", *union)} for c in cases]
        # plain tensors out, as the crop cache stores them, so that cached and fresh crops batch together
        transform = Compose([classifier_transforms(union, spacing, size, mode="validate", mask_channel=with_mask),
                             EnsureTyped(keys=IMAGE, track_meta=False)])  # fmt: skip
        if cache_dir is None:
            dataset = Dataset(data, transform)
        else:
            dataset = PersistentDataset(data, transform, cache_dir=Path(cache_dir), hash_transform=pickle_hashing)
        loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)
        scores: dict[str, list[float]] = {m.name: [] for m in members}
        amp = where.type == "cuda"
        with torch.no_grad(), torch.autocast(where.type, enabled=amp):
            for batch in tqdm(loader, desc=f"scoring {', '.join(networks)}", disable=not progress, leave=False):
                images = batch[IMAGE].to(where)
                for name, network in networks.items():
                    logits = network(images[:, channels[name]])
                    scores[name] += torch.softmax(logits.float(), dim=1)[:, 1].cpu().tolist()
        for name, values in scores.items():
            out[name] = np.asarray(values, dtype=float)
        logger.info("Scored %d cases with %s on %s.", len(ids), ", ".join(networks), where)
    return out
