"""Whole output folders or nothing (hccp53.staging), also when the output folder is a mount point, as a MAP
runner supplies ``/var/holoscan/output``: a mount point cannot be renamed (EBUSY), so the output is staged inside
it and its entries moved in."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from hccp53.errors import OutputError
from hccp53.staging import staged_output


def test_a_new_folder_appears_whole(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with staged_output(out, overwrite=False) as staging:
        (staging / "a.txt").write_text("a")
        assert not out.exists()
    assert [p.name for p in out.iterdir()] == ["a.txt"] and [p.name for p in tmp_path.iterdir()] == ["out"]


@pytest.mark.parametrize("overwrite", [False, True])
def test_an_existing_folder_that_cannot_be_renamed_is_filled_in_place(
    tmp_path: Path, overwrite: bool, mount_point_stand_in
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    if overwrite:
        (out / "old.txt").write_text("old")
        (out / "old").mkdir()
    mount_point_stand_in(out)
    with staged_output(out, overwrite=overwrite) as staging:
        (staging / "sub").mkdir()
        (staging / "sub" / "b.txt").write_text("b")
        (staging / "result.json").write_text("{}")
        assert staging.parent == out and not (out / "result.json").exists()
    assert sorted(p.name for p in out.iterdir()) == ["result.json", "sub"]
    assert (out / "sub" / "b.txt").read_text() == "b" and [p.name for p in tmp_path.iterdir()] == ["out"]


def test_the_named_last_entry_arrives_after_the_others(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    out.mkdir()
    moved: list[str] = []
    rename = Path.rename
    monkeypatch.setattr(Path, "rename", lambda self, target: (moved.append(Path(target).name), rename(self, target))[1])
    with staged_output(out, overwrite=False, last="result.json") as staging:
        for name in ("a.dcm", "result.json", "z.pdf"):
            (staging / name).write_text(name)
    assert moved == ["a.dcm", "z.pdf", "result.json"]


def test_a_failure_leaves_an_existing_folder_as_it_was(tmp_path: Path, mount_point_stand_in) -> None:
    out = tmp_path / "out"
    out.mkdir()
    mount_point_stand_in(out)
    with pytest.raises(RuntimeError, match="boom"), staged_output(out, overwrite=False) as staging:
        (staging / "half.dcm").write_text("half")
        raise RuntimeError("boom")
    assert list(out.iterdir()) == []
    (out / "x").write_text("x")
    with pytest.raises(OutputError, match="is not empty"), staged_output(out, overwrite=False):
        pass


@pytest.fixture
def mount_point(tmp_path: Path) -> Iterator[Path]:
    """A real tmpfs mount point (needs the right to mount: root, outside most containers)."""
    folder = tmp_path / "mounted"
    folder.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "hccp53-test", str(folder)],
                      capture_output=True).returncode != 0:  # fmt: skip
        pytest.skip("this machine does not let the tests mount a tmpfs; the EBUSY tests above stand in for it")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_real_mount_point_receives_the_output(mount_point: Path) -> None:
    with staged_output(mount_point, overwrite=False) as staging:
        (staging / "result.json").write_text("{}")
    assert [p.name for p in mount_point.iterdir()] == ["result.json"]
