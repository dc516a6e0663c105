"""Write a whole output folder or nothing: stage it, move it into place at the end (renames only)."""

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
    """Check ``out`` can be written and return the hidden staging folder: beside ``out`` when it does not exist
    yet, inside it when it does (it may be a mount point, which cannot be renamed or replaced)."""
    check_output(out, overwrite, fix)
    try:
        if out.is_dir():
            staging = out / f".partial-{os.getpid()}"
        else:
            parent = out.absolute().parent
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


def publish(staging: Path, out: Path, last: str | None = None) -> None:
    """Move the finished output into place, replacing old content only now that the new one is complete.

    A staging folder beside ``out`` is renamed to ``out``. One inside ``out`` (which existed: perhaps a mount
    point) has its entries moved into ``out`` one rename each, the entry named ``last`` after all the others, so
    that a reader waiting for that file finds everything else complete; the old entries are set aside first
    and deleted at the end.
    """
    if staging.parent != out:
        old = None
        if out.exists():
            old = out.absolute().parent / f".{out.name}.old-{os.getpid()}"
            out.rename(old)
        staging.rename(out)
        if old is not None:
            shutil.rmtree(old)
        return
    old = out / f".old-{os.getpid()}"
    stale = [entry for entry in out.iterdir() if entry != staging]
    if stale:
        old.mkdir()
        for entry in stale:
            entry.rename(old / entry.name)
    for entry in sorted(staging.iterdir(), key=lambda entry: (entry.name == last, entry.name)):
        entry.rename(out / entry.name)
    staging.rmdir()
    if stale:
        shutil.rmtree(old)


@contextmanager
def staged_output(out: Path, overwrite: bool, fix: str = DEFAULT_FIX, last: str | None = None) -> Iterator[Path]:
    """Yield a staging folder; publish it as ``out`` on success (``last``: see :func:`publish`), delete it on any
    failure, leaving ``out`` as it was.

    Raises
    ------
    OutputError
        ``out`` is a file, a non-empty folder (without ``overwrite``) or cannot be written.
    """
    staging = prepare_output(out, overwrite, fix)
    try:
        yield staging
        publish(staging, out, last)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
