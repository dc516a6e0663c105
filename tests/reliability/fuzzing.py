"""Hypothesis settings and strategies shared by the fuzz tests (issue 9: reliability harness).

The default suite runs the ``hccp53-ci`` profile: few examples, derandomized, so that a run is
bounded in time and a failure in CI reproduces on a laptop. A longer hunt::

    HCCP53_FUZZ_PROFILE=hccp53-long pytest tests/reliability -k fuzz

runs ten times as many random examples. A failure found that way becomes an ``@example`` of the test.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from hccp53.errors import HccP53Error

settings.register_profile(
    "hccp53-ci", max_examples=30, deadline=None, derandomize=True, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])  # fmt: skip
settings.register_profile(
    "hccp53-long", max_examples=300, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])  # fmt: skip

#: The profile the fuzz tests run under; ``fuzz(n)`` scales its example count.
PROFILE = settings.get_profile(os.environ.get("HCCP53_FUZZ_PROFILE", "hccp53-ci"))


def fuzz(scale: float = 1.0) -> settings:
    """The profile, with ``scale`` times its examples (cheap targets take more, file round trips fewer)."""
    return settings(PROFILE, max_examples=max(1, round(PROFILE.max_examples * scale)))


#: Project errors: the one-sentence exceptions entry points print. Anything else escaping is a bug.
PROJECT_ERRORS = (HccP53Error,)

#: Numbers as a DICOM header may hold them, including the ones no scanner should write.
odd_floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e-300, -1e300, 1e308, float("nan"), float("inf"), float("-inf")]),
)

#: Text as a header may hold it: empty, spaces, backslashes (the value separator), control and non-ASCII
#: characters, numbers and times written as text, very long values.
odd_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="latin-1"), max_size=200),
    st.sampled_from(
        [
            "",
            " ",
            "\\",
            "\\\\",
            "nan",
            "NaN",
            "inf",
            "-inf",
            "1e400",
            "-0",
            "0x10",
            "1,5",
            "١٢",
            "12:30",
            "123456.789",
            "246060",
            "99",
            "::",
            ".",
            "-",
            "+",
            "\x00",
            "AX\\COR",
            "ART\x00PV",
        ]
    ),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.text(alphabet="0123456789.:-+eE ", max_size=24),
    st.just("A" * 5000),
)

#: Any value a tag could be given by a broken writer: text, numbers, lists of them, bytes, None.
odd_values = st.one_of(
    st.none(),
    odd_text,
    odd_floats,
    st.integers(min_value=-(2**40), max_value=2**40),
    st.lists(st.one_of(odd_floats, odd_text), max_size=8),
    st.binary(max_size=16),
)
