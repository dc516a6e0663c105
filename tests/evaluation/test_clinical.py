"""Clinical factors as real exports give them: numbers as text, values censored at a laboratory's limit, free text."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from hccp53.errors import InputError
from hccp53.evaluation.baseline import raw_clinical
from hccp53.evaluation.clinical import MAX_TEXT_LEVELS, clinical_number, clinical_table, default_clinical_terms

AFP = [3.2, ">1210", 15000.0, "<2", "40", 5, 6.5, "≥ 800", "<=1.5", 12, 7, 9]


def _cases() -> list[dict]:
    return [{"case_id": f"C{i}", "clinical": {"afp": afp, "sex": "MF"[i % 2], "age": str(40 + i),
                                             "tumor_number": i % 3 + 1, "comment": f"reader note {i}"}}
            for i, afp in enumerate(AFP)]  # fmt: skip


@pytest.mark.parametrize(("value", "expected"), [
    (55, (55.0, False)), ("55", (55.0, False)), (" 4.5e2 ", (450.0, False)), ("<2", (2.0, True)),
    ("> 1210", (1210.0, True)), ("≤0.5", (0.5, True)), (">=7", (7.0, True)),
    ("positive", None), ("", None), (True, None), (float("nan"), None), ("1-2", None), (None, None),
])  # fmt: skip
def test_a_clinical_value_is_a_number_when_it_reads_as_one(value: object, expected: tuple | None) -> None:
    assert clinical_number(value) == expected


def test_numbers_as_text_and_censored_values_make_numeric_factors(caplog: pytest.LogCaptureFixture) -> None:
    cases = _cases()
    with caplog.at_level(logging.WARNING):
        terms = default_clinical_terms(cases)
        table = clinical_table(cases, terms)
    assert terms == ("log10_afp", "sex", "age", "tumor_number")  # AFP spans 4 decades even with its limits
    assert "comment" in caplog.text and f"more than {MAX_TEXT_LEVELS} distinct text values" in caplog.text
    assert "Clinical factor afp: 4 censored value(s)" in caplog.text
    limits = [3.2, 1210, 15000, 2, 40, 5, 6.5, 800, 1.5, 12, 7, 9]
    np.testing.assert_allclose(table["log10_afp"], np.log10(limits))
    np.testing.assert_array_equal(table["age"], np.arange(40, 52))
    assert str(table["sex"].dtype) == "category" and table["age"].dtype == float


def test_table_1_reads_numbers_as_text_as_numbers() -> None:
    frame = raw_clinical(_cases())
    assert frame["age"].dtype == np.int64 and frame["tumor_number"].dtype == np.int64
    assert frame["afp"].dtype == float and frame["afp"].iloc[1] == 1210.0
    assert frame["sex"].tolist() == list("MF" * 6)


def test_a_logged_factor_that_is_not_a_number_is_one_sentence(caplog: pytest.LogCaptureFixture) -> None:
    cases = _cases()
    cases[3]["clinical"]["afp"] = "not done"
    with pytest.raises(InputError, match=r"^Case C3: afp = 'not done' cannot be logged for 'log10_afp'; it must be a "
                                         r"positive number\.$"):  # fmt: skip
        clinical_table(cases, ["log10_afp"])

    with caplog.at_level(logging.WARNING):
        assert default_clinical_terms(cases) == ("sex", "age", "tumor_number")  # numbers with some text: left out
    assert "Clinical keys of numbers with some text values are not candidates" in caplog.text
    assert "afp (1 of 12 cases)" in caplog.text and "not done" not in caplog.text  # values are not logged
