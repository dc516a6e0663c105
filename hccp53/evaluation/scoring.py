"""Score the cases of a datalist with trained P53 classifiers (the deep-learning columns of an evaluation).

A trained classifier folder (``hccp53 train classifier --out DIR``) holds ``p53_classifier.pt``, its
sha256 in ``checksums.json`` and ``network.json`` (backbone, fusion, phases, crop), so that it can be
rebuilt without the config it was trained with. Classifiers that crop alike share one pass over the
data: the crop is made once with every phase any of them needs, and each model takes its own channels
(normalisation is per phase, so this is the same tensor as a crop of its phases alone).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hccp53 import PHASES
from hccp53.errors import InputError

logger = logging.getLogger(__name__)

WEIGHTS = "p53_classifier.pt"
NETWORK = "network.json"
#: Keys of ``network.json`` (the training config's values of the same names).
NETWORK_KEYS = ("backbone", "fusion", "shared_encoder", "dropout", "phases", "crop_spacing_mm", "crop_size")
#: Keys ``network.json`` may leave out (older trained folders), with the value they then take.
OPTIONAL_NETWORK_KEYS = {"mask_channel": False, "slices": None, "ensemble": None, "bounded_members": False}


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
        The folder, its weights or its ``network.json`` are missing or ``network.json`` lacks a key.
    """
    folder = Path(folder)
    if not (folder / WEIGHTS).is_file():
        raise InputError(f"Model {name!r}: {folder} has no {WEIGHTS}; point --models at a `hccp53 train "
                         "classifier` output folder.")  # fmt: skip
    path = folder / NETWORK
    if not path.is_file():
        raise InputError(f"Model {name!r}: {folder} has no {NETWORK} describing the network; retrain with "
                         "`hccp53 train classifier` or write it (keys: " + ", ".join(NETWORK_KEYS) + ").")  # fmt: skip
    try:
        network = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise InputError(f"Model {name!r}: {path} is not readable JSON ({error}).") from None
    missing = [k for k in NETWORK_KEYS if k not in network]
    if missing:
        raise InputError(f"Model {name!r}: {path} lacks {', '.join(missing)}.")
    return TrainedClassifier(name, folder, network)


def write_network(folder: str | Path, values: Mapping[str, Any]) -> Path:
    """Write ``network.json`` of a trained classifier from the training config's values."""
    keys = (*NETWORK_KEYS, *(k for k in OPTIONAL_NETWORK_KEYS if k in values))
    network = {k: (list(values[k]) if isinstance(values[k], (list, tuple)) else values[k]) for k in keys}
    path = Path(folder) / NETWORK
    path.write_text(json.dumps(network, indent=2) + "\n", encoding="utf-8")
    return path


def _load(model: TrainedClassifier, device: Any) -> Any:
    from hccp53.nets import classifier_from_description
    from hccp53.nets.weights import load_weights

    return load_weights(classifier_from_description(model.network), model.folder / WEIGHTS).to(device).eval()


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

    from hccp53.transforms import IMAGE, classifier_transforms

    torch_device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
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
        networks = {m.name: _load(m, torch_device) for m in members}
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
        amp = torch_device.type == "cuda"
        with torch.no_grad(), torch.autocast(torch_device.type, enabled=amp):
            for batch in tqdm(loader, desc=f"scoring {', '.join(networks)}", disable=not progress, leave=False):
                images = batch[IMAGE].to(torch_device)
                for name, network in networks.items():
                    logits = network(images[:, channels[name]])
                    scores[name] += torch.softmax(logits.float(), dim=1)[:, 1].cpu().tolist()
        for name, values in scores.items():
            out[name] = np.asarray(values, dtype=float)
        logger.info("Scored %d cases with %s on %s.", len(ids), ", ".join(networks), torch_device)
    return out
