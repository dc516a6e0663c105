"""The clinical factors of the clinical model: which keys of a datalist's ``clinical`` objects are candidates, and
their values per case as a table.

Every key each case has a value for is a candidate. A non-negative number whose positive values span at least
:data:`LOG_DECADES` decades across the cases (AFP in ng/ml) enters logged, as ``log10_<key>`` or, when some values
are zero (below the detection limit), ``log10p1_<key>`` (log10 of value + 1, as papers log AFP); text becomes a
categorical factor.
"""

from __future__ import annotations

import logging
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
    terms = []
    for key in keys:
        values = [t[key] for t in tables]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        positive = [v for v in values if numeric and v > 0]
        if numeric and min(values) >= 0 and positive and np.log10(max(positive) / min(positive)) >= LOG_DECADES:
            terms.append(f"{LOG_PREFIX if min(values) > 0 else LOG1P_PREFIX}{key}")
        else:
            terms.append(key)
    left_out = sorted({k for t in tables for k in t} - set(keys))
    if left_out:
        logger.warning("Clinical keys not given for every case are not candidates: %s.", ", ".join(left_out))
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
    rows = []
    for case in cases:
        values = case.get("clinical")
        if not isinstance(values, Mapping):
            raise InputError(f"Case {case['case_id']} has no clinical factors; add a \"clinical\" object to it in "
                             "the datalist or run without the clinical model (--no-clinical).")  # fmt: skip
        row: dict[str, Any] = {}
        for term in terms:
            key, transform = clinical_key(term)
            if key not in values or values[key] is None:
                raise InputError(f"Case {case['case_id']} lacks clinical factor {key!r}; add it or leave {term!r} "
                                 "out of --clinical.")  # fmt: skip
            value = values[key]
            if transform is not None:
                plus_one = transform == "log10p1"
                number = isinstance(value, (int, float)) and not isinstance(value, bool)
                if not number or value < 0 or (value == 0 and not plus_one):
                    kind = "non-negative" if plus_one else "positive"
                    raise InputError(f"Case {case['case_id']}: {key} = {value!r} cannot be logged for {term!r}; it "
                                     f"must be a {kind} number.")  # fmt: skip
                value = float(np.log10(value + 1.0 if plus_one else value))
            row[term] = value
        rows.append(row)
    frame = pd.DataFrame(rows, index=pd.Index([str(c["case_id"]) for c in cases], name="case_id"))
    for column in frame.columns:
        if frame[column].map(lambda v: isinstance(v, str)).any():
            frame[column] = frame[column].astype(str).astype("category")
    return frame
