"""The MONAI Label environment's pins (label/requirements.txt, label/constraints.txt) against the main ones."""

from __future__ import annotations

from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            name, _, version = line.partition("==")
            pins[name.strip().lower()] = version.strip()
    return pins


def test_label_pins_share_monai_and_stay_below_numpy2_and_pydicom3() -> None:
    label = _pins(REPOSITORY / "label" / "requirements.txt")
    main = _pins(REPOSITORY / "requirements.txt")
    assert label["monailabel"] == "0.8.5"
    assert label["monai"] == main["monai"], "the app must run the bundle's MONAI (same preprocessing code)"
    assert int(label["numpy"].split(".")[0]) < 2 and int(label["pydicom"].split(".")[0]) < 3
    assert not {"torch", "torchvision", "timm", "sam2"} & set(label), "torch comes first and alone; never torchvision"
    constraints = (REPOSITORY / "label" / "constraints.txt").read_text()
    assert "numpy<2" in constraints and "pydicom<3" in constraints
