"""sha256 checksums of the files a folder publishes, kept beside them in ``checksums.json`` (standard library only).

:func:`hccp53.nets.weights.load_weights` reads weights only after their sum matches; the trained-model records
(:mod:`hccp53.model`) carry the same sums and derive the model UID from them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

CHECKSUMS = "checksums.json"


def sha256_of(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def record_checksums(folder: str | Path, pattern: str = "*.pt") -> dict[str, str]:
    """Write ``folder/checksums.json`` (file name -> sha256 of every ``pattern`` file) and return it."""
    folder = Path(folder)
    sums = {p.name: sha256_of(p) for p in sorted(folder.glob(pattern)) if p.is_file()}
    tmp = folder / f".{CHECKSUMS}.tmp"
    tmp.write_text(json.dumps(sums, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(folder / CHECKSUMS)
    return sums


def expected_checksum(path: str | Path) -> str | None:
    """The sha256 recorded for ``path`` in the ``checksums.json`` beside it, or ``None``."""
    path = Path(path)
    record = path.parent / CHECKSUMS
    if not record.is_file():
        return None
    return json.loads(record.read_text(encoding="utf-8")).get(path.name)
