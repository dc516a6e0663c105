"""label/make_datastore.py: a datalist -> the app's studies folder, and saved labels -> a datalist again."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
SCRIPT = REPOSITORY / "label" / "make_datastore.py"


def _datalist(root: Path) -> Path:
    cases = []
    for case_id in ("A1", "B2"):
        folder = root / "cases" / case_id
        folder.mkdir(parents=True)
        for name in ("t2", "ap", "pvp", "mask"):
            (folder / f"{name}.nii.gz").write_bytes(f"{case_id}-{name}".encode())
        cases.append({"case_id": case_id, "label": 0, **{k: f"cases/{case_id}/{k}.nii.gz"
                                                          for k in ("t2", "ap", "pvp", "mask")}})  # fmt: skip
    path = root / "datalist.json"
    path.write_text(json.dumps({"training": cases[:1], "test": cases[1:]}))
    return path


def test_build_puts_the_reference_phase_on_top_and_the_others_by_name(tmp_path: Path) -> None:
    datalist = _datalist(tmp_path / "prepared")
    studies = tmp_path / "studies"
    subprocess.run([sys.executable, str(SCRIPT), "build", str(datalist), str(studies)], check=True,
                   capture_output=True)  # fmt: skip
    assert sorted(p.name for p in studies.glob("*.nii.gz")) == ["A1.nii.gz", "B2.nii.gz"]
    assert (studies / "A1.nii.gz").read_bytes() == b"A1-pvp"
    assert sorted(p.name for p in (studies / "phases" / "B2").iterdir()) == ["ap.nii.gz", "t2.nii.gz"]
    assert not (studies / "labels").exists()


def test_export_takes_the_saved_labels_as_masks(tmp_path: Path) -> None:
    datalist = _datalist(tmp_path / "prepared")
    studies = tmp_path / "studies"
    subprocess.run([sys.executable, str(SCRIPT), "build", str(datalist), str(studies), "--with-masks"], check=True,
                   capture_output=True)  # fmt: skip
    (studies / "labels" / "final" / "B2.nii.gz").write_bytes(b"corrected")
    (studies / "labels" / "final" / "A1.nii.gz").unlink()
    out = tmp_path / "annotated" / "datalist.json"
    result = subprocess.run([sys.executable, str(SCRIPT), "export", str(studies), str(datalist), str(out)],
                            check=True, capture_output=True, text=True)  # fmt: skip
    assert "1 mask(s)" in result.stdout
    content = json.loads(out.read_text())
    a1, b2 = content["training"][0], content["test"][0]
    assert Path(b2["mask"]).read_bytes() == b"corrected"
    assert Path(a1["mask"]).read_bytes() == b"A1-mask"  # no saved label: the datalist's own mask
    assert Path(a1["t2"]).is_absolute() and Path(a1["t2"]).read_bytes() == b"A1-t2"
