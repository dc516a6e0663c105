"""The durable folders of ``hccp53 serve``: every state change of a study is one rename, so a crash loses nothing.

::

    incoming/<study>/<instance>.dcm    received, fsync'ed before C-STORE success is answered
    work/<job>/input/                  a quiet study claimed for processing (renamed from incoming/<study>)
    work/<job>/result/                 the app's output (written whole or not at all)
    outbox/<job>/                      results waiting to be sent: *.dcm + job.json (renamed from work/<job>/result)
    failed/<job>/                      a study the app refused, with reason.json; kept for a person to look at
    rejected/<instance>.dcm + .json    objects that are not MR, with the reason; kept for a person to look at
    delivered.jsonl                    one line per delivered job (no patient identifiers)

``<study>`` is a hash of the Study Instance UID (folder names and logs carry no identifiers); ``<job>`` is
``<study>-<time>``. After a crash :meth:`Spool.recover` puts claimed-but-unfinished studies back into
``incoming`` and finishes handovers that were interrupted; results already in the outbox are never
recomputed, and a resent result carries the same SOP Instance UIDs, so the PACS holds it once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

STATES = ("incoming", "work", "outbox", "failed", "rejected")
JOB_FILE = "job.json"
REASON_FILE = "reason.json"
STUDY_FILE = ".study.json"  # hidden: the study loader leaves it out
DELIVERED_FILE = "delivered.jsonl"


def study_key(study_uid: str) -> str:
    """A short, stable, identifier-free name for a study (folders and log lines)."""
    return hashlib.sha256(study_uid.encode("ascii", "replace")).hexdigest()[:16]


def _instance_name(sop_uid: str) -> str:
    return hashlib.sha256(sop_uid.encode("ascii", "replace")).hexdigest()[:24] + ".dcm"


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes, scratch: Path) -> None:
    """Write ``data`` to ``path`` so that it survives a crash once this returns (temp file, fsync, rename)."""
    temporary = scratch / f"{uuid.uuid4().hex}.part"
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    _fsync_dir(path.parent)


@dataclass
class OutboxJob:
    """A result waiting in ``outbox/<job_id>``: which files are left to send, tries so far, when to try next."""

    job_id: str
    study_key: str
    study_uid: str
    files: list[str]
    sent: list[str] = field(default_factory=list)
    attempts: int = 0
    next_attempt: float = 0.0
    last_error: str | None = None
    created: float = field(default_factory=time.time)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def pending(self) -> list[str]:
        return [f for f in self.files if f not in self.sent]


class Spool:
    """The spool folders of one server (see the module docstring); thread-safe.

    Parameters
    ----------
    root
        Created if missing; must be on one file system (states change by rename).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()
        self._last_received: dict[str, float] = {}
        for name in (*STATES, "tmp"):
            (self.root / name).mkdir(parents=True, exist_ok=True)

    def folder(self, state: str) -> Path:
        return self.root / state

    # ---- receiving -------------------------------------------------------------------------------------------
    def store(self, study_uid: str, sop_uid: str, data: bytes) -> Path:
        """Write one received instance durably into ``incoming/<study>`` and note when it arrived."""
        key = study_key(study_uid)
        with self._lock:
            folder = self.folder("incoming") / key
            if not folder.is_dir():
                folder.mkdir()
                write_durably(folder / STUDY_FILE, json.dumps({"study_instance_uid": study_uid}).encode(),
                              self.folder("tmp"))  # fmt: skip
            path = folder / _instance_name(sop_uid)
            write_durably(path, data, self.folder("tmp"))
            self._last_received[key] = time.time()
        return path

    def reject(self, sop_uid: str, data: bytes, reason: str) -> Path:
        """Keep an object we do not process in ``rejected/``, with the reason beside it."""
        name = _instance_name(sop_uid)
        path = self.folder("rejected") / name
        write_durably(path, data, self.folder("tmp"))
        reason_file = path.with_suffix(".json")
        write_durably(reason_file, json.dumps({"reason": reason, "time": time.time()}).encode(), self.folder("tmp"))
        return path

    # ---- processing ------------------------------------------------------------------------------------------
    def quiet_studies(self, quiet_seconds: float, now: float | None = None) -> list[str]:
        """Keys of the incoming studies that received nothing for ``quiet_seconds``, oldest first."""
        now = time.time() if now is None else now
        with self._lock:
            keys = [p.name for p in self.folder("incoming").iterdir() if p.is_dir()]
            for key in keys:
                if key not in self._last_received:  # found on disk after a restart: newest file's time
                    times = [f.stat().st_mtime for f in (self.folder("incoming") / key).iterdir()]
                    self._last_received[key] = max(times, default=now)
            ready = [k for k in keys if now - self._last_received[k] >= quiet_seconds]
        return sorted(ready, key=lambda k: self._last_received[k])

    def claim(self, key: str, quiet_seconds: float) -> tuple[str, Path] | None:
        """Move ``incoming/<key>`` to ``work/<job>/input`` if it is still quiet (no instance lands in it after).

        Returns None when an instance arrived since :meth:`quiet_studies` looked.
        """
        with self._lock:
            if time.time() - self._last_received.get(key, 0.0) < quiet_seconds:
                return None
            job_id = f"{key}-{time.time_ns()}"
            job = self.folder("work") / job_id
            job.mkdir()
            os.rename(self.folder("incoming") / key, job / "input")
            _fsync_dir(self.folder("incoming"))
            self._last_received.pop(key, None)
        return job_id, job

    def study_uid(self, job: Path) -> str:
        return json.loads((job / "input" / STUDY_FILE).read_text())["study_instance_uid"]

    def to_outbox(self, job_id: str, files: list[str], summary: dict[str, Any]) -> OutboxJob:
        """Hand ``work/<job>/result`` over to the outbox (one rename), then drop the input instances."""
        work = self.folder("work") / job_id
        outbox = OutboxJob(job_id, job_id.rsplit("-", 1)[0], self.study_uid(work), files, summary=summary)
        write_durably(work / "result" / JOB_FILE, json.dumps(asdict(outbox)).encode(), self.folder("tmp"))
        os.rename(work / "result", self.folder("outbox") / job_id)
        _fsync_dir(self.folder("outbox"))
        shutil.rmtree(work)
        return outbox

    def to_failed(self, job_id: str, reason: str) -> Path:
        """Keep a study the app could not process in ``failed/<job>`` with ``reason.json``."""
        work = self.folder("work") / job_id
        failed = self.folder("failed") / job_id
        study = self.study_uid(work) if (work / "input" / STUDY_FILE).is_file() else None
        shutil.rmtree(work / "result", ignore_errors=True)
        write_durably(work / REASON_FILE, json.dumps({"reason": reason, "study_instance_uid": study,
                                                       "time": time.time()}).encode(), self.folder("tmp"))  # fmt: skip
        os.rename(work, failed)
        return failed

    # ---- sending ---------------------------------------------------------------------------------------------
    def outbox_jobs(self) -> list[OutboxJob]:
        jobs = []
        for folder in sorted(self.folder("outbox").iterdir()):
            if (folder / JOB_FILE).is_file():
                jobs.append(OutboxJob(**json.loads((folder / JOB_FILE).read_text())))
        return sorted(jobs, key=lambda j: j.created)

    def save_job(self, job: OutboxJob) -> None:
        write_durably(self.folder("outbox") / job.job_id / JOB_FILE, json.dumps(asdict(job)).encode(),
                      self.folder("tmp"))  # fmt: skip

    def delivered(self, job: OutboxJob) -> None:
        """Record the delivery (one JSON line, appended and fsync'ed), then remove the outbox folder."""
        line = {"job_id": job.job_id, "study_key": job.study_key, "time": time.time(), "attempts": job.attempts,
                "files": len(job.files), **job.summary}  # fmt: skip
        with self._lock, open(self.root / DELIVERED_FILE, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(line) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        shutil.rmtree(self.folder("outbox") / job.job_id)

    def delivered_jobs(self) -> list[dict[str, Any]]:
        path = self.root / DELIVERED_FILE
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    # ---- restart ---------------------------------------------------------------------------------------------
    def recover(self) -> dict[str, int]:
        """Make the folders consistent after a crash; returns what was done (counts)."""
        done = {"requeued": 0, "handover_finished": 0, "delivered_cleaned": 0}
        for scratch in self.folder("tmp").iterdir():
            scratch.unlink()
        delivered = {d["job_id"] for d in self.delivered_jobs()}
        for folder in list(self.folder("outbox").iterdir()):
            if folder.name in delivered:  # crashed between recording the delivery and removing the folder
                shutil.rmtree(folder)
                done["delivered_cleaned"] += 1
            elif not (folder / JOB_FILE).is_file():  # cannot happen: the job file is written before the rename
                logger.warning("Outbox folder %s has no %s; moved to failed/.", folder.name, JOB_FILE)
                os.rename(folder, self.folder("failed") / folder.name)
        for work in list(self.folder("work").iterdir()):
            if (self.folder("outbox") / work.name).exists() or work.name in delivered:
                shutil.rmtree(work)  # crashed after the handover, before the input was dropped
                done["handover_finished"] += 1
                continue
            source = work / "input"
            if source.is_dir():
                target = self.folder("incoming") / work.name.rsplit("-", 1)[0]
                if target.exists():  # more instances arrived after the claim: merge
                    for item in source.iterdir():
                        os.replace(item, target / item.name)
                else:
                    os.rename(source, target)
                done["requeued"] += 1
            shutil.rmtree(work)
        return done

    def counts(self) -> dict[str, int]:
        out = {}
        for state in STATES:
            items = [p for p in self.folder(state).iterdir() if state != "rejected" or p.suffix == ".dcm"]
            out[state] = len(items)
        out["delivered"] = len(self.delivered_jobs())
        return out

    def failures(self) -> Iterator[dict[str, Any]]:
        for folder in sorted(self.folder("failed").iterdir()):
            reason = folder / REASON_FILE
            text = json.loads(reason.read_text()) if reason.is_file() else {"reason": "unknown"}
            yield {"job_id": folder.name, "reason": text.get("reason"), "time": text.get("time")}
