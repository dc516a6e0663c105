"""Shared fixtures: small seeded synthetic cohorts, generated once per test session; PixelMed's SR validator."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
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


#: Debian's pixelmed-apps (scripts/setup_system.sh); the jar's manifest names the libraries it needs.
PIXELMED_JAR = Path("/usr/share/java/pixelmed.jar")
#: Java 17's default XPath limits stop PixelMed's template stylesheets ("JAXP0801003 ... exceeds the '10,000'
#: limit"), which is why the Debian wrapper `DicomSRValidator` fails; these lift them.
_JAVA_XML_LIMITS = ("-Djdk.xml.xpathExprOpLimit=0", "-Djdk.xml.xpathExprGrpLimit=0", "-Djdk.xml.xpathTotalOpLimit=0")
#: "Content Item not in template" on an item whose concept name is a private code (a 99-scheme): no template
#: row names our private concepts, so PixelMed cannot place them.
_PRIVATE_NOT_IN_TEMPLATE = re.compile(r'/[A-Z]+ \([^,()]+,99[A-Z0-9]+,"[^"]*"\): Content Item not in template$')


@dataclass(frozen=True)
class SRValidation:
    """What PixelMed's DicomSRValidator said of one SR (template checking on)."""

    output: str
    errors: list[str]
    warnings: list[str]

    @property
    def root_template_checked(self) -> bool:
        return "Found Root Template TID_1500" in self.output

    @property
    def other_warnings(self) -> list[str]:
        """The warnings other than those a private code must cause (see :data:`_PRIVATE_NOT_IN_TEMPLATE`)."""
        return [line for line in self.warnings if not _PRIVATE_NOT_IN_TEMPLATE.search(line)]


@pytest.fixture(scope="session")
def validate_sr() -> Callable[[Path], SRValidation]:
    """PixelMed's DicomSRValidator (TID 1500 and its context groups) on one SR file, 15 s and 2.5 GB a file."""
    java = shutil.which("java")
    if java is None or not PIXELMED_JAR.is_file():
        pytest.skip(f"PixelMed's DicomSRValidator is not installed (no java or no {PIXELMED_JAR}): run `make setup` "
                    "(scripts/setup_system.sh installs the Debian package pixelmed-apps).")

    def run(path: Path) -> SRValidation:
        result = subprocess.run([java, *_JAVA_XML_LIMITS, "-cp", str(PIXELMED_JAR),
                                 "com.pixelmed.validate.DicomSRValidator", "-checktemplateid", str(path)],
                                capture_output=True, text=True, check=False, timeout=600)  # fmt: skip
        output = result.stdout + result.stderr
        lines = output.splitlines()
        errors = [line for line in lines if line.startswith("Error") or " ERROR " in line]
        if result.returncode != 0:
            errors.append(f"DicomSRValidator exited with {result.returncode}")
        return SRValidation(output, errors, [line for line in lines if line.startswith("Warning")])

    return run


@pytest.fixture
def mount_point_stand_in(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], None]:
    """Make a folder behave like a mount point (a MAP runner's output folder): renaming it fails with EBUSY, as
    the kernel fails it."""
    import errno

    rename = Path.rename

    def busy_when_renamed(folder: Path) -> None:
        def refuse(self: Path, target: str | Path) -> Path:
            if Path(self).absolute() == folder.absolute():
                raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), str(self))
            return rename(self, target)

        monkeypatch.setattr(Path, "rename", refuse)

    return busy_when_renamed
