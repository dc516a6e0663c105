"""The soak of ``hccp53 serve``: one server process receives studies by C-STORE, one after the other.

The server runs as a subprocess (``tests/pacs/orthanc.py``'s :class:`Serve`, what a site runs) and sends its
results by C-STORE to a pynetdicom Storage SCP in this process. Each study is sent with new Study, Series and
SOP Instance UIDs (the pixels and every other element unchanged), so that the server sees a new study every
time; the next study is sent only once the previous one's SR has arrived and its delivery is recorded in the
spool. The server process is then sampled from ``/proc`` (see :mod:`soak`); ``leftover_files`` counts what
is left in its spool (``delivered.jsonl``, the one-line-per-delivery record, aside).
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pydicom
from pydicom.uid import generate_uid
from pynetdicom import AE, AllStoragePresentationContexts, evt
from soak import Sample, reset_peak, sample

from hccp53.pacs.spool import DELIVERED_FILE
from tests.pacs.orthanc import Serve, free_port

logger = logging.getLogger(__name__)

RESULT_TIMEOUT_S = 600
#: A study whose association broke is sent again (same UIDs: the spool keeps one copy of each instance).
SEND_TRIES = 3
#: After a delivery the server may still be removing the study's input; a file still there after this is kept.
SETTLE_S = 60


class Collector:
    """The destination: a Storage SCP that keeps the Study Instance UID of every SR it receives."""

    def __init__(self) -> None:
        self.port = free_port()
        self.sr_studies: set[str] = set()
        self._lock = threading.Lock()
        ae = AE(ae_title="COLLECTOR")
        ae.supported_contexts = AllStoragePresentationContexts
        self._server = ae.start_server(("127.0.0.1", self.port), block=False,
                                       evt_handlers=[(evt.EVT_C_STORE, self._store)])  # fmt: skip

    def _store(self, event) -> int:
        ds = event.dataset
        if ds.get("Modality") == "SR":
            with self._lock:
                self.sr_studies.add(str(ds.StudyInstanceUID))
        return 0x0000

    def has_sr(self, study_uid: str) -> bool:
        with self._lock:
            return study_uid in self.sr_studies

    def stop(self) -> None:
        self._server.shutdown()


def read_study(folder: Path) -> list[pydicom.Dataset]:
    """Every DICOM file of a study folder, read once."""
    return [pydicom.dcmread(path) for path in sorted(p for p in folder.rglob("*") if p.is_file())]


def renew_uids(datasets: Sequence[pydicom.Dataset]) -> str:
    """Give the study new Study, Series and SOP Instance UIDs in place; returns the new Study Instance UID."""
    study_uid = generate_uid()
    series: dict[str, str] = {}
    for ds in datasets:
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series.setdefault(str(ds.SeriesInstanceUID), generate_uid())
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return study_uid


def send(datasets: Sequence[pydicom.Dataset], port: int) -> None:
    """C-STORE the datasets to the server on loopback ``port`` in one association."""
    ae = AE(ae_title="SOAKSCU")
    for sop_class in {str(ds.SOPClassUID) for ds in datasets}:
        ae.add_requested_context(sop_class)
    assoc = ae.associate("127.0.0.1", port, ae_title="HCCP53")
    if not assoc.is_established:
        raise RuntimeError(f"hccp53 serve on port {port} refused the association.")
    try:
        failed = [s for s in (assoc.send_c_store(ds) for ds in datasets) if getattr(s, "Status", None) != 0x0000]
    finally:
        assoc.release()
    if failed:
        raise RuntimeError(f"hccp53 serve refused {len(failed)} of {len(datasets)} instances.")


def delivered(spool: Path) -> int:
    """Jobs the server has recorded as delivered."""
    path = spool / DELIVERED_FILE
    return len(path.read_text(encoding="utf-8").splitlines()) if path.exists() else 0


def settled(spool: Path) -> bool:
    """True when the spool holds no study in incoming, work or outbox."""
    folders = [spool / state for state in ("incoming", "work", "outbox")]
    return not any(any(folder.iterdir()) for folder in folders if folder.is_dir())


def wait_for(condition: Callable[[], bool], what: str, server: Serve) -> None:
    deadline = time.monotonic() + RESULT_TIMEOUT_S
    while not condition():
        if server.process.poll() is not None:
            raise RuntimeError(f"hccp53 serve exited ({server.process.returncode}): {server.log_text()[-2000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"no {what} after {RESULT_TIMEOUT_S} s; see {server.log_path}.")
        time.sleep(0.2)


def soak_serve(studies: Sequence[Path], count: int, work: Path,
               progress: Callable[[Sample], None] | None = None) -> tuple[list[Sample], bool, float, list]:  # fmt: skip
    """Send ``count`` studies (cycling through ``studies``, new UIDs each time) to one ``hccp53 serve``.

    Returns
    -------
    tuple
        The samples of the server process, whether its per-study peak could be reset, its start-up time
        (from the process start to the first C-ECHO answered) in seconds, and the sends that broke off and
        were tried again (study, try, error).
    """
    loaded = [read_study(folder) for folder in studies]
    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)  # "connection refused" until the server is up
    collector = Collector()
    work.mkdir(parents=True, exist_ok=True)
    spool = work / "spool"
    server = Serve(spool, "--destination", f"COLLECTOR@127.0.0.1:{collector.port}")
    start = time.perf_counter()
    server.start()
    startup = time.perf_counter() - start
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)  # from now on its errors say why a send broke off
    temp = Path(tempfile.gettempdir())
    per_study = True
    samples: list[Sample] = []
    failures: list[dict[str, object]] = []
    try:
        for number in range(count):
            datasets = loaded[number % len(loaded)]
            study_uid = renew_uids(datasets)
            per_study = reset_peak(server.process.pid) and per_study
            start = time.perf_counter()
            for attempt in range(1, SEND_TRIES + 1):
                try:
                    send(datasets, server.port)
                    break
                except RuntimeError as error:
                    failures.append({"study": number, "attempt": attempt, "error": str(error)})
                    logger.warning("Sending study %d broke off (try %d of %d): %s", number, attempt, SEND_TRIES, error)
                    if attempt == SEND_TRIES:
                        raise
            wait_for(lambda uid=study_uid: collector.has_sr(uid), f"SR for study {number}", server)
            wait_for(lambda n=number: delivered(spool) > n, f"delivery record for study {number}", server)
            wall = time.perf_counter() - start
            deadline = time.monotonic() + SETTLE_S
            while not settled(spool) and time.monotonic() < deadline:
                time.sleep(0.2)
            samples.append(sample(number, wall, server.process.pid, temp, spool, ignore=(DELIVERED_FILE,)))
            if progress is not None:
                progress(samples[-1])
    finally:
        code = server.stop()
        collector.stop()
    if code != 0:
        raise RuntimeError(f"hccp53 serve stopped with exit code {code}; see {server.log_path}.")
    return samples, per_study, startup, failures
