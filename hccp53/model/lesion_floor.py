"""The segmentation network's lesion-confidence floor: set from lesions measured on studies of its training look.

A lesion's confidence is the network's mean tumor probability over it (:class:`hccp53.inference.Lesion`). On
images unlike its training data the network makes blobs it is unsure of; below the floor, a lesion other than
the most confident is dropped (:func:`hccp53.inference.tumor_from_softmax`). The floor belongs to one set of
weights, so it lives in their record (``segmentation.json``: ``min_lesion_confidence``, with the evidence it
was set from) and is set again whenever the network is retrained.

It is chosen on lesions that ``bench/bench_generalisation.py --lesions FILE`` wrote for a style the network was
trained on (``varied``), never on the held-out style that measures it: among the thresholds halfway between two
neighbouring confidences, the one that leaves the fewest errors (a false lesion kept, a true lesion dropped),
the lowest of equals. Only lesions other than each study's first count: the first is always kept.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from hccp53.errors import ConfigError, InputError
from hccp53.model.record import SEGMENTATION_RECORD, read_model, write_record


def choose_floor(lesions: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The floor and what it was chosen from: ``lesions`` are bench rows (``index``, ``confidence``, ``true``)."""
    rows = [(float(row["confidence"]), bool(row["true"])) for row in lesions
            if int(row["index"]) > 1 and row.get("confidence") is not None]  # fmt: skip
    true = sorted(c for c, is_true in rows if is_true)
    false = sorted(c for c, is_true in rows if not is_true)
    if not false:
        raise InputError("No false lesion among the lesions other than each study's first: there is nothing to set "
                         "a floor against; measure more studies (bench_generalisation.py --cases).")  # fmt: skip
    values = sorted({c for c, _ in rows})
    candidates = [0.0] + [(a + b) / 2 for a, b in zip(values, values[1:], strict=False)] + [values[-1] + 1e-6]

    def errors(floor: float) -> tuple[int, int]:
        return sum(c >= floor for c in false), sum(c < floor for c in true)

    floor = min(candidates, key=lambda f: (sum(errors(f)), f))
    kept_false, dropped_true = errors(floor)
    return {"min_lesion_confidence": round(floor, 3),
            "min_lesion_confidence_evidence": {
                "rule": "the threshold halfway between two neighbouring confidences with the fewest false lesions "
                        "kept plus true lesions dropped (the lowest of equals), on lesions other than each "
                        "study's first",
                "true_lesions": len(true), "false_lesions": len(false),
                "true_confidence_min": min(true) if true else None, "false_confidence_max": max(false),
                "false_kept": kept_false, "true_dropped": dropped_true}}  # fmt: skip


def read_lesion_files(paths: Iterable[Path], model_uid: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The lesions of bench files written with this model (``model_uid``), and the styles they come from.

    Raises
    ------
    InputError
        A file is unreadable, of another model, or of the held-out style.
    """
    lesions: list[dict[str, Any]] = []
    styles: set[str] = set()
    for path in paths:
        try:
            content = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise InputError(f"Cannot read the lesions file {path} ({error}).") from None
        if not isinstance(content, dict) or not isinstance(content.get("lesions"), list):
            raise InputError(f"{path} is not a lesions file of bench/bench_generalisation.py --lesions.")
        if content.get("min_lesion_confidence", 0.0) > 0:
            raise InputError(f"{path} was measured with a lesion-confidence floor in effect, which hid the lesions "
                             "below it; measure again with --without-floor.")  # fmt: skip
        if content.get("model_uid") != model_uid:
            raise InputError(f"{path} was measured with model {content.get('model_uid')}, not this folder's "
                             f"{model_uid}; measure again with this folder (--models).")  # fmt: skip
        if "heldout" in {row.get("style") for row in content["lesions"]}:
            raise InputError(f"{path} holds lesions of the held-out style, which measures the floor; set it on a "
                             "training style (--styles varied).")  # fmt: skip
        lesions += [{**row, "file": str(path)} for row in content["lesions"]]  # study names repeat across files
        styles |= {str(row.get("style")) for row in content["lesions"]}
    return lesions, sorted(styles)


def set_floor(folder: str | Path, paths: Sequence[Path]) -> dict[str, Any]:
    """Choose the floor from the lesion files and write it into the folder's ``segmentation.json``.

    Raises
    ------
    InputError, ConfigError
        As :func:`read_lesion_files` and :func:`choose_floor`, or the folder is not a trained-model folder.
    """
    record = read_model(folder)
    lesions, styles = read_lesion_files(paths, record.uid)
    values = choose_floor(lesions)
    values["min_lesion_confidence_evidence"].update(
        {"styles": styles, "studies": len({(row["file"], row.get("style"), row.get("study")) for row in lesions}),
         "files": [Path(p).name for p in paths]})  # fmt: skip
    try:
        write_record(record.folder, SEGMENTATION_RECORD, values)
    except OSError as error:
        raise ConfigError(f"Cannot write {record.folder / SEGMENTATION_RECORD} ({error}).") from None
    return values
