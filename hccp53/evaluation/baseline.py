"""Table 1 of both papers: the clinical characteristics by P53 status in each split, with the test that fits each.

A variable with at most :data:`MAX_LEVELS` distinct values, or text, is categorical: counts and percentages,
Fisher's exact test when a 2x2 table has an expected count below 5, Pearson's chi-square otherwise (with Yates'
continuity correction on a 2x2 table, as R's ``chisq.test``). Any other number is continuous: mean ± SD and
Welch's t-test when both groups pass Shapiro-Wilk (p > 0.05), median [IQR] and the Mann-Whitney U test (R's
``wilcox.test``, normal approximation with continuity correction) otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from hccp53.evaluation.clinical import numeric_values

#: A number with at most this many distinct values is a category (hbv 0/1, tumor number, ALBI grade).
MAX_LEVELS = 5
STATUS = {1: "P53-mutated", 0: "wild type"}


def _categorical(values: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(values) or values.nunique() <= MAX_LEVELS


def _continuous_row(a: np.ndarray, b: np.ndarray) -> tuple[str, str, float, str]:
    normal = min(len(a), len(b)) >= 3 and all(stats.shapiro(x).pvalue > 0.05 for x in (a, b))
    if normal:
        def show(x: np.ndarray) -> str:
            return f"{np.mean(x):.4g} ± {np.std(x, ddof=1):.3g}"

        return show(a), show(b), float(stats.ttest_ind(a, b, equal_var=False).pvalue), "Welch t-test"

    def show(x: np.ndarray) -> str:
        q1, median, q3 = np.percentile(x, [25, 50, 75])
        return f"{median:.4g} [{q1:.4g}–{q3:.4g}]"

    p = stats.mannwhitneyu(a, b, alternative="two-sided", method="asymptotic", use_continuity=True).pvalue
    return show(a), show(b), float(p), "Mann-Whitney U"


def _categorical_rows(values: pd.Series, groups: pd.Series, name: str) -> list[dict[str, Any]]:
    table = pd.crosstab(values.astype(str), groups)
    table = table.reindex(columns=[1, 0], fill_value=0)
    counts = table.to_numpy()
    expected = stats.contingency.expected_freq(counts) if counts.sum() else counts
    if counts.shape == (2, 2) and (expected < 5).any():
        p, test = float(stats.fisher_exact(counts).pvalue), "Fisher's exact"
    elif counts.shape[0] < 2:
        p, test = float("nan"), "one level"
    else:
        p, test = float(stats.chi2_contingency(counts, correction=True).pvalue), "chi-square"
    totals = counts.sum(axis=0)
    rows = [{"variable": name, "level": "", "test": test, "p": p}]
    for level, row in zip(table.index, counts, strict=True):
        cells = {STATUS[g]: f"{n} ({100.0 * n / t:.1f}%)" if t else "0" for g, n, t in zip((1, 0), row, totals,
                                                                                        strict=True)}  # fmt: skip
        rows.append({"variable": name, "level": str(level), **cells})
    return rows


def baseline_table(clinical: pd.DataFrame, labels: pd.Series, splits: pd.Series,
                   split_order: Sequence[str] = ("training", "test")) -> pd.DataFrame:  # fmt: skip
    """Table 1: each variable by P53 status within each split, with its test's p-value.

    Parameters
    ----------
    clinical
        One row per case (index ``case_id``), one column per clinical variable, in their own units.
    labels, splits
        The P53 label (1 = mutated) and the split of each case, on the same index.

    Returns
    -------
    pandas.DataFrame
        Rows: ``n``, then each variable (a row per level for a categorical one); per split the columns
        ``<split>: P53-mutated``, ``<split>: wild type``, ``<split>: p`` and ``<split>: test``.
    """
    blocks = []
    for split in split_order:
        rows_of = splits == split
        if not rows_of.any():
            continue
        groups = labels[rows_of].astype(int)
        data = clinical[rows_of]
        rows = [{"variable": "n", "level": "", **{STATUS[g]: str(int((groups == g).sum())) for g in (1, 0)}}]
        for name in clinical.columns:
            values = data[name]
            if _categorical(clinical[name]):
                rows += _categorical_rows(values, groups, name)
            else:
                a, b = (values[groups == g].to_numpy(dtype=float) for g in (1, 0))
                shown_a, shown_b, p, test = _continuous_row(a, b)
                rows.append({"variable": name, "level": "", STATUS[1]: shown_a, STATUS[0]: shown_b, "p": p,
                             "test": test})  # fmt: skip
        block = pd.DataFrame(rows).set_index(["variable", "level"])
        blocks.append(block.rename(columns=lambda c, s=split: f"{s}: {c}"))
    return pd.concat(blocks, axis=1).reset_index()


def raw_clinical(cases: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The clinical values every case has, in their own units (no log), one row per case; a key whose values are
    all numbers, as text too (``"55"``, ``">1210"`` at its limit: :func:`~hccp53.evaluation.clinical.clinical_number`),
    is numeric."""
    tables = [c.get("clinical") or {} for c in cases]
    keys = [k for k in (tables[0] if tables else {}) if all(t.get(k) is not None for t in tables)]
    frame = pd.DataFrame(index=pd.Index([str(c["case_id"]) for c in cases], name="case_id"))
    for key in keys:
        values = [t[key] for t in tables]
        numbers = numeric_values(values)
        if numbers is None:
            frame[key] = values
            continue
        column = np.asarray(numbers[0])
        frame[key] = column.astype(np.int64) if np.array_equal(column, np.round(column)) else column  # 1, not 1.0
    return frame
