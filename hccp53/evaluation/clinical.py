"""The clinical factors of the clinical model: which keys of a datalist's ``clinical`` objects are candidates, and
their values per case as a table.

Every key each case has a value for is a candidate. A non-negative number whose positive values span at least
:data:`LOG_DECADES` decades across the cases (AFP in ng/ml) enters logged, as ``log10_<key>`` or, when some values
are zero (below the detection limit), ``log10p1_<key>`` (log10 of value + 1, as papers log AFP); text becomes a
categorical factor.

Clinical exports carry numbers as text: ``"55"`` is the number 55, and a value censored at a laboratory's
limit, ``"<2"`` or ``">1210"`` (also ``<=``, ``>=``, ``≤``, ``≥``), is taken at its limit, with one warning per
factor saying how many were. A key whose values are all numbers in that sense is numeric. A key of numbers with
some text (``"not done"``), or text with more than :data:`MAX_TEXT_LEVELS` distinct values (free text, an
identifier), is not a default candidate, with a warning.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from hccp53.errors import InputError

logger = logging.getLogger(__name__)

#: A non-negative clinical value whose positive values span this many decades across the cases (AFP in ng/ml)
#: enters logged: as ``log10_<key>`` when every value is positive, as ``log10p1_<key>`` (log10 of value + 1, as
#: papers log AFP) when some are zero (below the detection limit).
LOG_DECADES = 3.0
LOG_PREFIX = "log10_"
LOG1P_PREFIX = "log10p1_"
#: A text factor with more distinct values than this is free text or an identifier, not a default candidate.
MAX_TEXT_LEVELS = 10

_NUMBER = re.compile(r"\s*(?P<censor><=|>=|≤|≥|<|>)?\s*(?P<value>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*")


def clinical_number(value: Any) -> tuple[float, bool] | None:
    """A clinical value as a number and whether it was censored (``"<2"``, ``">1210"``: taken at the limit), or
    None when it is not a number (text, a boolean, NaN)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return (float(value), False) if np.isfinite(value) else None
    if isinstance(value, str) and (match := _NUMBER.fullmatch(value)):
        return float(match["value"]), match["censor"] is not None
    return None


def numeric_values(values: Sequence[Any]) -> tuple[list[float], int] | None:
    """Every value as a number and how many were censored, or None when one is not a number."""
    numbers = [clinical_number(v) for v in values]
    if any(n is None for n in numbers):
        return None
    return [n[0] for n in numbers], sum(n[1] for n in numbers)  # type: ignore[index]


def default_clinical_terms(cases: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """The clinical candidates a datalist offers: every key of ``clinical`` that each case has a value for.

    A non-negative number whose positive values span at least :data:`LOG_DECADES` decades across the cases (AFP
    in ng/ml) enters logged: ``log10_<key>`` when all are positive, ``log10p1_<key>`` (log10 of value + 1) when
    some are zero. Keys are in the order of the first case's ``clinical``. Cases without a ``clinical`` object
    give no candidates (:func:`clinical_table` then says which case lacks it).
    """
    tables = [c.get("clinical") for c in cases]
    if not tables or not all(isinstance(t, Mapping) for t in tables):
        return ()
    keys = [k for k in tables[0] if all(t.get(k) is not None for t in tables)]
    terms, wordy, mixed = [], [], []
    for key in keys:
        parsed = numeric_values([t[key] for t in tables])
        if parsed is None:
            text = sum(clinical_number(t[key]) is None for t in tables)
            if text <= len(tables) / 2:
                mixed.append(f"{key} ({text} of {len(tables)} cases)")
            elif len({str(t[key]) for t in tables}) > MAX_TEXT_LEVELS:
                wordy.append(key)
            else:
                terms.append(key)
            continue
        values = parsed[0]
        positive = [v for v in values if v > 0]
        if min(values) >= 0 and positive and np.log10(max(positive) / min(positive)) >= LOG_DECADES:
            terms.append(f"{LOG_PREFIX if min(values) > 0 else LOG1P_PREFIX}{key}")
        else:
            terms.append(key)
    left_out = sorted({k for t in tables for k in t} - set(keys))
    if left_out:
        logger.warning("Clinical keys not given for every case are not candidates: %s.", ", ".join(left_out))
    if mixed:
        logger.warning("Clinical keys of numbers with some text values are not candidates (correct those values, or "
                       "name the key in --clinical to use it as text): %s.", ", ".join(mixed))  # fmt: skip
    if wordy:
        logger.warning("Clinical keys with more than %d distinct text values (free text or identifiers) are not "
                       "candidates: %s.", MAX_TEXT_LEVELS, ", ".join(wordy))  # fmt: skip
    return tuple(terms)


def clinical_key(term: str) -> tuple[str, str | None]:
    """The ``clinical`` key a candidate term reads and its transform: ``"log10"``, ``"log10p1"`` or None."""
    for prefix, transform in ((LOG1P_PREFIX, "log10p1"), (LOG_PREFIX, "log10")):
        if term.startswith(prefix):
            return term[len(prefix):], transform
    return term, None


def clinical_table(cases: Sequence[Mapping[str, Any]], terms: Sequence[str]) -> pd.DataFrame:
    """The clinical factors of each case as a DataFrame (``log10_<key>`` = log10 of ``clinical[key]``,
    ``log10p1_<key>`` = log10 of ``clinical[key]`` + 1).

    Raises
    ------
    InputError
        A case has no ``clinical`` entry or lacks a factor, or a logged factor is not positive (not
        non-negative for ``log10p1_``).
    """
    for case in cases:
        if not isinstance(case.get("clinical"), Mapping):
            raise InputError(f"Case {case['case_id']} has no clinical factors; add a \"clinical\" object to it in "
                             "the datalist or run without the clinical model (--no-clinical).")  # fmt: skip
    index = pd.Index([str(c["case_id"]) for c in cases], name="case_id")
    frame = pd.DataFrame(index=index)
    for term in terms:
        key, transform = clinical_key(term)
        for case in cases:
            if case["clinical"].get(key) is None:
                raise InputError(f"Case {case['case_id']} lacks clinical factor {key!r}; add it or leave {term!r} "
                                 "out of --clinical.")  # fmt: skip
        raw = [case["clinical"][key] for case in cases]
        parsed = numeric_values(raw)
        if parsed is not None and parsed[1]:
            logger.warning("Clinical factor %s: %d censored value(s) (\"<\" or \">\" a limit) taken at their limit.",
                           key, parsed[1])  # fmt: skip
        if transform is not None:
            plus_one = transform == "log10p1"
            for case, value in zip(cases, raw, strict=True):
                number = clinical_number(value)
                if number is None or number[0] < 0 or (number[0] == 0 and not plus_one):
                    kind = "non-negative" if plus_one else "positive"
                    raise InputError(f"Case {case['case_id']}: {key} = {value!r} cannot be logged for {term!r}; it "
                                     f"must be a {kind} number.")  # fmt: skip
            values = np.asarray(parsed[0]) + (1.0 if plus_one else 0.0)  # type: ignore[index]
            frame[term] = np.log10(values)
        elif parsed is not None:
            frame[term] = np.asarray(parsed[0], dtype=float)
        else:
            frame[term] = pd.Series([str(v) for v in raw], index=index, dtype="category")
    return frame
