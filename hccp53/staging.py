"""Write a whole output folder or nothing: stage it beside the target, rename it into place at the end."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hccp53.errors import OutputError

DEFAULT_FIX = "choose another folder or pass --overwrite"


def check_output(out: Path, overwrite: bool, fix: str = DEFAULT_FIX) -> None:
    """Refuse a file, or a non-empty folder unless ``overwrite``; ``fix`` ends the sentence (what to do)."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"The output path {out} is a file; give a folder to write into.")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise OutputError(f"The output folder {out} is not empty; {fix}.")


def prepare_output(out: Path, overwrite: bool, fix: str = DEFAULT_FIX) -> Path:
    """Check ``out`` can be written and return the hidden staging folder beside it."""
    check_output(out, overwrite, fix)
    parent = out.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = parent / f".{out.name}.partial-{os.getpid()}"
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir()
    except PermissionError:
        raise OutputError(f"Cannot write the output folder {out}: permission denied.") from None
    except OSError as error:
        raise OutputError(f"Cannot write the output folder {out}: {error.strerror}.") from None
    return staging


def publish(staging: Path, out: Path) -> None:
    """Move the finished folder into place, replacing an old one only now that the new one is complete."""
    old = None
    if out.exists():
        old = out.absolute().parent / f".{out.name}.old-{os.getpid()}"
        out.rename(old)
    staging.rename(out)
    if old is not None:
        shutil.rmtree(old)


@contextmanager
def staged_output(out: Path, overwrite: bool, fix: str = DEFAULT_FIX) -> Iterator[Path]:
    """Yield a staging folder; publish it as ``out`` on success, delete it on any failure.

    Raises
    ------
    OutputError
        ``out`` is a file, a non-empty folder (without ``overwrite``) or cannot be written.
    """
    staging = prepare_output(out, overwrite, fix)
    try:
        yield staging
        publish(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
