"""``hccp53 serve`` in-process: a destination that refuses, objects that are not MR, AE titles not allowed,
a study that stops mid-way. The destination is a pynetdicom Storage SCP that keeps what it receives."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pydicom
import pytest
from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import CTImageStorage, MRImageStorage

from hccp53.pacs.config import read_config
from hccp53.pacs.server import SOP_CLASS_NOT_SUPPORTED, Server, spool_status
from hccp53.predictor import Predictor
from hccp53.settings import read_settings

from .orthanc import echo, free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]


class Collector:
    """A Storage SCP standing in for the PACS: keeps every dataset it is sent."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.received: list[pydicom.Dataset] = []
        ae = AE(ae_title="COLLECTOR")
        ae.supported_contexts = AllStoragePresentationContexts
        self._server = ae.start_server(("127.0.0.1", port), block=False,
                                       evt_handlers=[(evt.EVT_C_STORE, self._store)])  # fmt: skip

    def _store(self, event) -> int:
        self.received.append(event.dataset)
        return 0x0000

    def stop(self) -> None:
        self._server.shutdown()


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor(ROOT / "models", read_settings(), device="cpu")


def _server(tmp_path: Path, predictor: Predictor, destination_port: int, **overrides) -> Server:
    # quiet_seconds: a busy CPU paused a send for over 0.5 s once, and half a study was processed on its own.
    values = {"spool": str(tmp_path / "spool"), "port": free_port(), "quiet_seconds": 3,
              "destination": f"COLLECTOR@127.0.0.1:{destination_port}", "retry_base_seconds": 0.5,
              "retry_max_seconds": 1.0, "network_timeout_seconds": 5, **overrides}  # fmt: skip
    server = Server(read_config(None, values), predictor=predictor)
    server.start()
    return server


def _send(files: list[Path], port: int, calling: str = "TESTSCU") -> list[int]:
    datasets = [pydicom.dcmread(f) for f in files]
    ae = AE(ae_title=calling)
    for sop_class in {str(ds.SOPClassUID) for ds in datasets}:
        ae.add_requested_context(sop_class)
    assoc = ae.associate("127.0.0.1", port, ae_title="HCCP53")
    assert assoc.is_established
    statuses = [assoc.send_c_store(ds).Status for ds in datasets]
    assoc.release()
    return statuses


def _study_files(case: Path) -> list[Path]:
    return sorted((case / "dicom").rglob("*.dcm"))


def test_results_wait_in_the_outbox_until_the_destination_answers(tmp_path: Path, cohort: Path,
                                                                   predictor: Predictor) -> None:  # fmt: skip
    port = free_port()  # nothing listens there yet: the destination refuses
    server = _server(tmp_path, predictor, port)
    try:
        case = cohort / "cases" / "SYN0001"
        assert set(_send(_study_files(case), server.port)) == {0x0000}
        jobs = wait_until(lambda: [j for j in server.spool.outbox_jobs() if j.attempts >= 2], 120,
                          "two failed tries in the outbox")  # fmt: skip
        assert "did not answer" in jobs[0].last_error
        status = spool_status(server.spool.root)
        assert status["outbox"][0]["last_error"] and status["counts"]["outbox"] == 1
        assert echo(server.port)  # still serving
        collector = Collector(port)
        try:
            wait_until(lambda: not server.spool.outbox_jobs(), 30, "the outbox to empty")
        finally:
            collector.stop()
        study_uid = pydicom.dcmread(_study_files(case)[0]).StudyInstanceUID
        # the result SR, the SEG, the PDF and the key-slice SR (the lesion's outline a viewer draws)
        assert sorted(ds.Modality for ds in collector.received) == ["DOC", "SEG", "SR", "SR"]
        assert {ds.StudyInstanceUID for ds in collector.received} == {study_uid}
        (delivered,) = server.spool.delivered_jobs()
        assert delivered["attempts"] >= 3 and 0 <= delivered["p53_probability"] <= 1
        assert server.spool.counts() == {"incoming": 0, "work": 0, "outbox": 0, "failed": 0, "rejected": 0,
                                         "delivered": 1}  # fmt: skip
    finally:
        server.stop()


def test_objects_that_are_not_mr_are_refused_and_kept(tmp_path: Path, cohort: Path, predictor: Predictor) -> None:
    server = _server(tmp_path, predictor, free_port())
    try:
        source = _study_files(cohort / "cases" / "SYN0002")[0]
        ds = pydicom.dcmread(source)
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
        ds.Modality = "CT"
        ct = tmp_path / "ct.dcm"
        ds.save_as(ct, enforce_file_format=True)
        assert _send([ct], server.port) == [SOP_CLASS_NOT_SUPPORTED]
        (kept,) = server.spool.folder("rejected").glob("*.dcm")
        assert pydicom.dcmread(kept).Modality == "CT"
        assert "not an MR image" in json.loads(kept.with_suffix(".json").read_text())["reason"]
        assert server.spool.counts()["incoming"] == 0 and echo(server.port)
    finally:
        server.stop()


def test_only_allowed_calling_ae_titles_may_send(tmp_path: Path, cohort: Path, predictor: Predictor) -> None:
    server = _server(tmp_path, predictor, free_port(), allowed_calling_aets=["ORTHANC"])
    try:
        ae = AE(ae_title="INTRUDER")
        ae.add_requested_context(MRImageStorage)
        assoc = ae.associate("127.0.0.1", server.port, ae_title="HCCP53")
        assert assoc.is_rejected
        assert set(_send(_study_files(cohort / "cases" / "SYN0002")[:2], server.port, calling="ORTHANC")) == {0}
    finally:
        server.stop(wait_for_studies=False)


def test_a_study_that_stops_mid_way_is_kept_with_the_reason(tmp_path: Path, cohort: Path,
                                                            predictor: Predictor) -> None:  # fmt: skip
    collector_port = free_port()
    collector = Collector(collector_port)
    server = _server(tmp_path, predictor, collector_port)
    try:
        truth = json.loads((cohort / "cases" / "SYN0003" / "truth.json").read_text())
        pvp = truth["phases"]["pvp"]["series_instance_uid"]
        files = [f for f in _study_files(cohort / "cases" / "SYN0003")
                 if pydicom.dcmread(f, stop_before_pixels=True).SeriesInstanceUID != pvp]  # fmt: skip
        assert set(_send(files, server.port)) == {0}
        (failed,) = wait_until(lambda: list(server.spool.failures()), 120, "the study to fail")
        assert "pvp" in failed["reason"] or "portal venous" in failed["reason"]
        assert not collector.received and server.spool.counts()["work"] == 0
        time.sleep(0.5)
        assert echo(server.port)
    finally:
        server.stop()
        collector.stop()
