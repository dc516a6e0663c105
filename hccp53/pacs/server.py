"""``hccp53 serve``: a Storage SCP that runs the app on every complete study and sends the results back.

Three kinds of thread share one :class:`~hccp53.pacs.spool.Spool`:

- pynetdicom's association threads write each received MR instance durably, then answer success; objects
  that are not MR are kept in ``rejected/`` and refused with status 0x0122 (SOP Class not supported);
- the scheduler claims studies that have been quiet for ``quiet_seconds`` and runs the app on them
  (:func:`hccp53.deploy.run_study`, the networks loaded once) in a bounded pool of ``workers``;
- the sender sends each outbox job by C-STORE or STOW-RS, retrying with doubling waits until it succeeds.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from hccp53.errors import HccP53Error
from hccp53.pacs.config import ServeConfig
from hccp53.pacs.send import no_delay
from hccp53.pacs.spool import OutboxJob, Spool, study_key, write_durably

logger = logging.getLogger(__name__)

STATUS_FILE = "status.json"
MR_STORAGE = ("1.2.840.10008.5.1.4.1.1.4", "1.2.840.10008.5.1.4.1.1.4.1")  # MR Image, Enhanced MR Image Storage
SOP_CLASS_NOT_SUPPORTED = 0x0122  # PS3.7 C.1.4 Refused: SOP Class not supported
OUT_OF_RESOURCES = 0xA700  # PS3.4 B.2.3 Refused: Out of resources
CANNOT_UNDERSTAND = 0xC000  # PS3.4 B.2.3 Error: Cannot understand
TICK_SECONDS = 0.2


class Server:
    """One running ``hccp53 serve``; :meth:`start`, then :meth:`stop` (or :meth:`serve_forever`).

    Parameters
    ----------
    config
        :func:`hccp53.pacs.config.read_config`.
    predictor
        A loaded :class:`hccp53.predictor.Predictor`; default: built from ``config.models`` at start.
    """

    def __init__(self, config: ServeConfig, predictor: Any = None) -> None:
        if config.destination is None and config.stow_url is None:
            raise HccP53Error("hccp53 serve needs somewhere to send results: give --destination AET@host:port "
                              "(C-STORE) or --stow-url URL (STOW-RS).")  # fmt: skip
        self.config = config
        self.spool = Spool(config.spool)
        self.predictor = predictor
        self.counters = {"received": 0, "rejected": 0, "processed": 0, "failed": 0, "delivered": 0,
                         "send_failures": 0}  # fmt: skip
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(config.workers, thread_name_prefix="hccp53-study")
        self._active: dict[str, Future] = {}
        self._threads: list[threading.Thread] = []
        self._scp = None
        self._started = time.time()
        self._counter_lock = threading.Lock()

    # ---- life cycle ------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Recover the spool, load the networks, listen, and start the scheduler and sender threads.

        Raises
        ------
        HccP53Error
            The models cannot be loaded, or the port cannot be listened on.
        """
        config = self.config
        if not config.loopback:
            logger.warning("Listening on %s, which is not a loopback address: make sure only the PACS can reach it.",
                           config.host)  # fmt: skip
        recovered = self.spool.recover()
        if any(recovered.values()):
            logger.info("Spool recovered after a restart: %s.", recovered)
        if self.predictor is None:
            from hccp53.predictor import Predictor
            from hccp53.settings import read_settings

            self.predictor = Predictor(config.models, read_settings())
        self._scp = self._listen()
        for name, target in (("scheduler", self._schedule), ("sender", self._send_loop)):
            thread = threading.Thread(target=target, name=f"hccp53-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        self._write_status("running")
        logger.info("Listening as %s on %s:%d; results go to %s.", config.ae_title, config.host, self.port,
                    config.destination or config.stow_url)  # fmt: skip

    @property
    def port(self) -> int:
        return self._scp.server_address[1] if self._scp is not None else self.config.port

    def stop(self, wait_for_studies: bool = True) -> None:
        """Stop listening, let running studies finish (or not), stop the threads."""
        self._stop.set()
        if self._scp is not None:
            self._scp.shutdown()
        self._pool.shutdown(wait=wait_for_studies, cancel_futures=True)
        for thread in self._threads:
            thread.join(timeout=30)
        self._write_status("stopped")

    def request_stop(self) -> None:
        """Make :meth:`serve_forever` return (safe in a signal handler); then call :meth:`stop`."""
        self._stop.set()

    def serve_forever(self) -> None:
        """Block until :meth:`request_stop` or :meth:`stop` is called."""
        while not self._stop.wait(2.0):
            self._write_status("running")

    # ---- receiving -------------------------------------------------------------------------------------------
    def _listen(self):
        from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
        from pynetdicom.sop_class import Verification

        config = self.config
        ae = AE(ae_title=config.ae_title)
        ae.maximum_pdu_size = config.max_pdu
        ae.require_called_aet = True
        ae.require_calling_aet = list(config.allowed_calling_aets)
        ae.network_timeout = ae.acse_timeout = ae.dimse_timeout = config.network_timeout_seconds
        for context in AllStoragePresentationContexts:
            syntaxes = ALL_TRANSFER_SYNTAXES if context.abstract_syntax in MR_STORAGE else context.transfer_syntax
            ae.add_supported_context(context.abstract_syntax, syntaxes)
        ae.add_supported_context(Verification)
        handlers = [(evt.EVT_C_STORE, self._on_store), (evt.EVT_C_ECHO, lambda event: 0x0000),
                    (evt.EVT_REJECTED, self._on_rejected), (evt.EVT_CONN_OPEN, no_delay)]  # fmt: skip
        try:
            return ae.start_server((config.host, config.port), block=False, evt_handlers=handlers)
        except OSError as error:
            raise HccP53Error(f"Cannot listen on {config.host}:{config.port} ({error.strerror}); choose another "
                              "--port or stop what uses it.") from None  # fmt: skip

    def _on_rejected(self, event: Any) -> None:
        requestor = event.assoc.requestor
        logger.warning("Refused an association from %s (%s): calling AE title not allowed or wrong called AE "
                       "title.", requestor.address, requestor.ae_title)  # fmt: skip

    def _on_store(self, event: Any) -> int:
        """C-STORE: keep the instance durably, then answer (status codes of PS3.4 B.2.3)."""
        try:
            ds = event.dataset
            sop_class = str(event.request.AffectedSOPClassUID)
            sop_uid = str(event.request.AffectedSOPInstanceUID)
            study_uid = str(ds.get("StudyInstanceUID", "") or "")
            modality = str(ds.get("Modality", "") or "")
            data = event.encoded_dataset()
        except Exception as error:  # noqa: BLE001 (pynetdicom would answer 0xC211 and log a traceback)
            logger.warning("Could not decode a received object (%s); answered 'cannot understand'.",
                           type(error).__name__)  # fmt: skip
            return CANNOT_UNDERSTAND
        try:
            if sop_class not in MR_STORAGE or modality != "MR":
                reason = (f"not an MR image (SOP Class {sop_class}, modality {modality or 'none'}); hccp53 "
                          "processes MR studies only")  # fmt: skip
                self.spool.reject(sop_uid, data, reason)
                self._count("rejected")
                logger.warning("Refused an object: %s. Kept in %s.", reason, self.spool.folder("rejected"))
                return SOP_CLASS_NOT_SUPPORTED
            if not study_uid:
                self.spool.reject(sop_uid, data, "no Study Instance UID")
                self._count("rejected")
                logger.warning("Refused an MR object without Study Instance UID; kept in %s.",
                               self.spool.folder("rejected"))  # fmt: skip
                return CANNOT_UNDERSTAND
            self.spool.store(study_uid, sop_uid, data)
        except OSError as error:
            logger.error("Cannot write a received instance to the spool %s (%s); answered 'out of resources'.",
                         self.spool.root, error.strerror)  # fmt: skip
            return OUT_OF_RESOURCES
        self._count("received")
        return 0x0000

    # ---- processing ------------------------------------------------------------------------------------------
    def _schedule(self) -> None:
        while not self._stop.wait(TICK_SECONDS):
            try:
                self._schedule_once()
            except OSError as error:  # the spool's disk: keep trying, say so
                logger.error("Cannot claim studies in the spool %s (%s); retrying.", self.spool.root, error.strerror)

    def _schedule_once(self) -> None:
        for key, future in list(self._active.items()):
            if future.done():
                del self._active[key]
                if future.exception() is not None:  # _process keeps the study; this is the spool failing
                    logger.error("Study job %s: %s; its files stay in the spool.", key, future.exception())
        free = self.config.workers - len(self._active)
        if free <= 0:
            return
        for key in self.spool.quiet_studies(self.config.quiet_seconds)[:free]:
            claimed = self.spool.claim(key, self.config.quiet_seconds)
            if claimed is not None:
                job_id, job = claimed
                self._active[job_id] = self._pool.submit(self._process, job_id, job)

    def _process(self, job_id: str, job: Path) -> None:
        from hccp53.deploy import KEY_SLICE_SR_FILE, PDF_FILE, SEG_FILE, SR_FILE, run_study

        key = job_id.rsplit("-", 1)[0]
        count = sum(1 for p in (job / "input").iterdir() if not p.name.startswith("."))
        logger.info("Study %s complete (%d instances); running the app.", key, count)
        try:
            result = run_study(job / "input", job / "result", self.predictor)
        except HccP53Error as error:
            failed = self.spool.to_failed(job_id, str(error))
            self._count("failed")
            logger.warning("Study %s was not processed: %s It is kept in %s.", key, error, failed)
            return
        except Exception as error:  # a bug: logged with its traceback, the study kept, the server keeps serving
            logger.exception("Study %s: internal error; the study is kept in failed/.", key)
            self.spool.to_failed(job_id, f"internal error ({type(error).__name__}: {error})")
            self._count("failed")
            return
        files = [SR_FILE] + ([SEG_FILE] if result["outputs"]["seg"] else [])
        if result["outputs"].get("key_slice_sr") and (job / "result" / KEY_SLICE_SR_FILE).is_file():
            files.append(KEY_SLICE_SR_FILE)  # the outline a viewer draws (docs/viewer.md)
        if self.config.send_pdf and (job / "result" / PDF_FILE).is_file():
            files.append(PDF_FILE)
        summary = {"p53_probability": result["p53_probability"], "p53_status": result["p53_status"],
                   "lesions": len(result["lesions"])}  # fmt: skip
        self.spool.to_outbox(job_id, files, summary)
        self._count("processed")
        logger.info("Study %s: %s; %d object(s) queued for sending.", key, result["p53_status"], len(files))

    # ---- sending ---------------------------------------------------------------------------------------------
    def _send_loop(self) -> None:
        while not self._stop.wait(TICK_SECONDS):
            try:
                now = time.time()
                for job in self.spool.outbox_jobs():
                    if self._stop.is_set():
                        return
                    if job.next_attempt <= now:
                        self.send(job)
            except OSError as error:
                logger.error("Cannot read or update the outbox in %s (%s); retrying.", self.spool.root,
                             error.strerror)  # fmt: skip

    def send(self, job: OutboxJob) -> bool:
        """Try to send a job's remaining files once; on failure record the error and when to try again."""
        from hccp53.pacs.send import SendError, send_dimse, send_stow

        folder = self.spool.folder("outbox") / job.job_id
        config = self.config

        def sent(path: Path) -> None:
            job.sent.append(path.name)
            self.spool.save_job(job)

        job.attempts += 1
        try:
            files = [folder / name for name in job.pending]
            if config.destination is not None:
                send_dimse(files, config.destination, config.ae_title, config.network_timeout_seconds, sent)
            else:
                send_stow(files, config.stow_url, config.network_timeout_seconds, sent)
        except Exception as error:  # SendError: the network; anything else is logged with its traceback too
            if not isinstance(error, SendError):
                logger.exception("Results of study %s: unexpected error while sending.", job.study_key)
            wait = min(config.retry_base_seconds * 2 ** (job.attempts - 1), config.retry_max_seconds)
            job.last_error, job.next_attempt = str(error), time.time() + wait
            self.spool.save_job(job)
            self._count("send_failures")
            logger.warning("Results of study %s not sent (try %d): %s Next try in %.3g s.", job.study_key,
                           job.attempts, error, wait)  # fmt: skip
            return False
        self.spool.delivered(job)
        self._count("delivered")
        logger.info("Results of study %s delivered (%d object(s), try %d).", job.study_key, len(job.files),
                    job.attempts)  # fmt: skip
        return True

    # ---- status ----------------------------------------------------------------------------------------------
    def _count(self, name: str) -> None:
        with self._counter_lock:
            self.counters[name] += 1

    def _write_status(self, state: str) -> None:
        status = {"state": state, "pid": os.getpid(), "time": time.time(), "started": self._started,
                  "ae_title": self.config.ae_title, "host": self.config.host, "port": self.port,
                  "destination": str(self.config.destination or self.config.stow_url),
                  "counters": dict(self.counters), "processing": len(self._active)}  # fmt: skip
        write_durably(self.spool.root / STATUS_FILE, json.dumps(status).encode(), self.spool.folder("tmp"))


def spool_status(spool_root: str | Path) -> dict[str, Any]:
    """What ``hccp53 serve --status`` prints: the server's last heartbeat and what the spool folders hold."""
    root = Path(spool_root)
    if not (root / "incoming").is_dir():
        raise HccP53Error(f"{root} is not a hccp53 serve spool (no incoming/ folder); give the spool folder.")
    spool = Spool(root)
    heartbeat = json.loads((root / STATUS_FILE).read_text()) if (root / STATUS_FILE).is_file() else None
    alive = False
    if heartbeat is not None and heartbeat.get("state") == "running":
        try:
            os.kill(int(heartbeat["pid"]), 0)
            alive = time.time() - float(heartbeat["time"]) < 30
        except (OSError, ValueError):
            alive = False
    outbox = [{"job_id": j.job_id, "attempts": j.attempts, "pending": len(j.pending), "last_error": j.last_error,
               "next_attempt": j.next_attempt} for j in spool.outbox_jobs()]  # fmt: skip
    return {"running": alive, "server": heartbeat, "counts": spool.counts(), "outbox": outbox,
            "failed": list(spool.failures())}  # fmt: skip


__all__ = ["Server", "spool_status", "study_key"]
