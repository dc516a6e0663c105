"""Seeded, stratified train/test splits and cross-validation folds (nnU-Net style ``splits.json``)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

logger = logging.getLogger(__name__)


def make_splits(case_ids: list[str], labels: list[int], test_fraction: float, folds: int, seed: int
                ) -> dict[str, Any]:
    """Seeded train/test split stratified by label, and cross-validation folds of the training part.

    A stratified split needs at least two cases of each label, two test cases and two training
    cases; otherwise the split is random, ``stratified`` is False and a warning is logged. The
    folds are stratified too, and fewer than ``folds`` when a label has fewer training cases
    than that (also logged).
    """
    ids = np.asarray(case_ids)
    y = np.asarray(labels)
    n = len(ids)
    n_test = int(round(n * test_fraction))
    counts = np.bincount(y, minlength=2)
    result: dict[str, Any] = {"seed": seed, "test_fraction": test_fraction}
    if n < 2 or n_test < 1:
        train_ids, test_ids, stratified = ids, ids[:0], False
        logger.warning("%d case(s): too few for a test split; every case is in the training split", n)
    else:
        stratified = bool(counts.min() >= 2 and n_test >= 2 and n - n_test >= 2)
        if not stratified:
            logger.warning("%d case(s) with %d mutated: too few to stratify; the split is random", n, counts[1])
        train_ids, test_ids = train_test_split(ids, test_size=n_test, random_state=seed,
                                               stratify=y if stratified else None)
    train_set = set(train_ids.tolist())
    train_y = np.asarray([label for i, label in zip(ids, y, strict=True) if i in train_set])
    train_ids = np.asarray([i for i in ids if i in train_set])
    fold_list: list[dict[str, list[str]]] = []
    min_class = int(np.bincount(train_y, minlength=2).min()) if len(train_y) else 0
    k = min(folds, min_class)
    splitter: StratifiedKFold | KFold | None = None
    if k >= 2:
        splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    elif len(train_ids) >= 2:
        k = min(folds, len(train_ids))
        splitter = KFold(n_splits=k, shuffle=True, random_state=seed)
        logger.warning("folds are not stratified: a label has fewer than 2 training cases")
    if splitter is not None and k < folds:
        logger.warning("%d cross-validation folds instead of %d: too few training cases of one label", k, folds)
    if splitter is not None:
        for train_index, val_index in splitter.split(train_ids, train_y):
            fold_list.append({"train": sorted(train_ids[train_index].tolist()),
                              "val": sorted(train_ids[val_index].tolist())})
    result.update({"stratified": stratified, "training": sorted(train_ids.tolist()),
                   "test": sorted(test_ids.tolist()), "folds": fold_list})
    return result
