"""The phase vocabulary of ``hccp53``: the keys, the default list, and the one phase-list parser."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hccp53 import DEFAULT_PHASES, PHASE_NAMES, PHASES, parse_phases
from hccp53.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
KNOWN = "use some of t2, pre, ap, pvp, dp, hbp"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("t2,ap,pvp", ("t2", "ap", "pvp")),
        ("t2 ap pvp", ("t2", "ap", "pvp")),
        (" T2 , AP,PVP ,", ("t2", "ap", "pvp")),
        ("hbp\tpre", ("hbp", "pre")),
        ("pvp", ("pvp",)),
        (["T2", " ap ", "pvp"], ("t2", "ap", "pvp")),
        (("dp",), ("dp",)),
    ],
)
def test_phase_lists_are_read_from_text_or_a_sequence_in_the_order_given(value, expected) -> None:
    assert parse_phases(value) == expected


@pytest.mark.parametrize(
    ("value", "what", "match"),
    [
        ("t2,art,xyz", "--phases", rf"^Unknown phase\(s\) art, xyz in --phases; {KNOWN}\.$"),
        (["t2", "t1"], "the network's phases", rf"^Unknown phase\(s\) t1 in the network's phases; {KNOWN}\.$"),
        ("ap,AP,pvp", "--require", rf"^Phase\(s\) ap given more than once in --require; {KNOWN}, each once\.$"),
        ("", "--radiomics-phases", rf"^No phase given in --radiomics-phases; {KNOWN}\.$"),
        (" , ", "the phase list", rf"^No phase given in the phase list; {KNOWN}\.$"),
        ((), "the phase list", rf"^No phase given in the phase list; {KNOWN}\.$"),
    ],
)
def test_bad_phase_lists_are_one_sentence_naming_the_known_phases(value, what: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_phases(value, what)


def test_an_empty_list_is_accepted_only_when_asked_for() -> None:
    assert parse_phases("", "--require", allow_empty=True) == ()
    assert parse_phases((), allow_empty=True) == ()
    with pytest.raises(ConfigError, match="Unknown phase"):
        parse_phases("xyz", allow_empty=True)


def test_the_default_phases_are_known_keys_and_have_names() -> None:
    assert parse_phases(DEFAULT_PHASES) == DEFAULT_PHASES
    assert set(PHASES) <= set(PHASE_NAMES)


def test_the_default_phase_list_is_written_in_the_vocabulary_module_only() -> None:
    """No library function or benchmark carries its own copy of the default phases (issue 23)."""
    literal = re.compile(r"""[(\[]\s*(["'])t2\1\s*,\s*(["'])ap\2\s*,\s*(["'])pvp\3\s*,?\s*[)\]]""")
    found = [str(path.relative_to(ROOT)) for folder in ("hccp53", "bench") for path in (ROOT / folder).rglob("*.py")
             if literal.search(path.read_text(encoding="utf-8"))]
    assert found == ["hccp53/__init__.py"]
