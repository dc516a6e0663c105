"""Shared fixtures: small seeded synthetic cohorts, generated once per test session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hccp53.synth.cohort import generate_cohort
from hccp53.synth.config import load_config


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip `gpu` tests, saying why, when torch sees no CUDA device."""
    if not any(item.get_closest_marker("gpu") for item in items):
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (torch.cuda.is_available() is False)")
    for item in items:
        if item.get_closest_marker("gpu"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The cohort of the issue's acceptance check: `hccp53 synth --cases 8 --seed 1` (small profile)."""
    out = tmp_path_factory.mktemp("cohort") / "c8"
    generate_cohort(out, 8, seed=1, profile="small", workers=2, progress=False)
    return out


@pytest.fixture(scope="session")
def truths(cohort: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(cohort.glob("cases/*/truth.json"))}


def vendor_config(vendor: str, **protocol: float) -> dict:
    """Settings that force one vendor (and any protocol fractions given)."""
    return load_config(protocol__vendors={vendor: 1.0}, **{f"protocol__{k}": v for k, v in protocol.items()})


@pytest.fixture(scope="session")
def vendor_cohorts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two small cases per vendor style, with the vendor's storage quirks switched on."""
    styles = {
        "ge_single": vendor_config("ge", ge_single_series_fraction=1.0, site_label_fraction=0.0),
        "ge_separate": vendor_config("ge", ge_single_series_fraction=0.0, dixon_fraction=1.0,
                                     site_label_fraction=0.0, uninformative_label_fraction=0.0),
        "siemens": vendor_config("siemens", subtraction_fraction=1.0, dixon_fraction=1.0, dixon_dynamic_fraction=0.0,
                                 site_label_fraction=0.0, uninformative_label_fraction=0.0, dwi_fraction=1.0),
        "philips": vendor_config("philips", subtraction_fraction=1.0, dixon_fraction=1.0, dixon_dynamic_fraction=0.0,
                                 site_label_fraction=0.0, uninformative_label_fraction=0.0),
        "philips_mdixon": vendor_config("philips", dixon_dynamic_fraction=1.0, site_label_fraction=0.0,
                                        uninformative_label_fraction=0.0),
        "canon": vendor_config("canon", dwi_fraction=1.0),
    }
    root = tmp_path_factory.mktemp("vendors")
    out = {}
    for name, config in styles.items():
        out[name] = root / name
        generate_cohort(out[name], 2, seed=3, profile="small", config=config, workers=2, preview=False,
                        progress=False)
    return out
