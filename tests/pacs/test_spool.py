"""The spool's state changes and its recovery after a crash at each point of a study's way through it."""

from __future__ import annotations

import json

import pytest

from hccp53.pacs.spool import STUDY_FILE, Spool, study_key

STUDY = "1.2.826.0.1.3680043.8.498.1"


def _received(spool: Spool, n: int = 3, study: str = STUDY) -> str:
    for i in range(n):
        spool.store(study, f"{study}.{i}", b"DICM%d" % i)
    return study_key(study)


def _result(spool: Spool, job_id: str) -> None:
    result = spool.folder("work") / job_id / "result"
    result.mkdir()
    (result / "p53_sr.dcm").write_bytes(b"sr")


def test_instances_land_in_one_study_folder_named_without_identifiers(tmp_path) -> None:
    spool = Spool(tmp_path)
    key = _received(spool)
    folder = spool.folder("incoming") / key
    assert STUDY not in key and len(key) == 16
    assert sorted(p.read_bytes() for p in folder.glob("*.dcm")) == [b"DICM0", b"DICM1", b"DICM2"]
    assert json.loads((folder / STUDY_FILE).read_text()) == {"study_instance_uid": STUDY}
    assert not list(spool.folder("tmp").iterdir())


def test_a_study_is_claimed_only_once_it_is_quiet(tmp_path) -> None:
    spool = Spool(tmp_path)
    key = _received(spool)
    assert spool.quiet_studies(60) == []
    assert spool.claim(key, 60) is None
    assert spool.quiet_studies(0) == [key]
    job_id, job = spool.claim(key, 0)
    assert job_id.startswith(key) and len(list((job / "input").glob("*.dcm"))) == 3
    assert not (spool.folder("incoming") / key).exists()
    assert spool.study_uid(job) == STUDY


def test_handover_to_the_outbox_and_delivery(tmp_path) -> None:
    spool = Spool(tmp_path)
    job_id, _ = spool.claim(_received(spool), 0)
    _result(spool, job_id)
    job = spool.to_outbox(job_id, ["p53_sr.dcm"], {"p53_probability": 0.25})
    assert not (spool.folder("work") / job_id).exists()
    (saved,) = spool.outbox_jobs()
    assert saved.study_uid == STUDY and saved.pending == ["p53_sr.dcm"] and saved.summary == {"p53_probability": 0.25}
    spool.delivered(job)
    assert spool.outbox_jobs() == [] and [d["job_id"] for d in spool.delivered_jobs()] == [job_id]
    assert spool.counts() == {"incoming": 0, "work": 0, "outbox": 0, "failed": 0, "rejected": 0, "delivered": 1}


def test_a_crash_while_processing_puts_the_study_back(tmp_path) -> None:
    spool = Spool(tmp_path)
    key = _received(spool)
    job_id, _ = spool.claim(key, 0)
    _result(spool, job_id)  # half-written result of the crashed run
    _received(spool, 1)  # one more instance arrived after the claim
    # the new process:
    assert Spool(tmp_path).recover()["requeued"] == 1
    assert len(list((spool.folder("incoming") / key).glob("*.dcm"))) == 3  # merged: instance 0 again + 1, 2
    assert not list(spool.folder("work").iterdir())


def test_a_crash_after_the_handover_does_not_recompute(tmp_path) -> None:
    spool = Spool(tmp_path)
    key = _received(spool)
    job_id, job = spool.claim(key, 0)
    _result(spool, job_id)
    # as to_outbox, up to the rename of the result, but the input not yet dropped:
    (job / "result").rename(spool.folder("outbox") / job_id)
    (spool.folder("outbox") / job_id / "job.json").write_text(json.dumps(
        {"job_id": job_id, "study_key": key, "study_uid": STUDY, "files": ["p53_sr.dcm"]}))
    assert Spool(tmp_path).recover()["handover_finished"] == 1
    assert not (spool.folder("incoming") / key).exists() and not list(spool.folder("work").iterdir())
    assert [j.job_id for j in spool.outbox_jobs()] == [job_id]


def test_a_crash_after_recording_the_delivery_is_not_sent_again(tmp_path) -> None:
    spool = Spool(tmp_path)
    job_id, _ = spool.claim(_received(spool), 0)
    _result(spool, job_id)
    job = spool.to_outbox(job_id, ["p53_sr.dcm"], {})
    with open(tmp_path / "delivered.jsonl", "a") as handle:  # as delivered(), before the folder is removed
        handle.write(json.dumps({"job_id": job.job_id}) + "\n")
    assert Spool(tmp_path).recover()["delivered_cleaned"] == 1
    assert spool.outbox_jobs() == []


def test_failed_studies_and_rejected_objects_are_kept_with_their_reason(tmp_path) -> None:
    spool = Spool(tmp_path)
    job_id, _ = spool.claim(_received(spool), 0)
    failed = spool.to_failed(job_id, "The study has no portal venous phase.")
    assert len(list((failed / "input").glob("*.dcm"))) == 3
    assert [f["reason"] for f in spool.failures()] == ["The study has no portal venous phase."]
    kept = spool.reject("1.2.3.4", b"CT", "not an MR image")
    assert kept.read_bytes() == b"CT"
    assert json.loads(kept.with_suffix(".json").read_text())["reason"] == "not an MR image"
    assert spool.counts()["rejected"] == 1 and spool.counts()["failed"] == 1


@pytest.mark.parametrize("leftover", ["x.part"])
def test_partial_writes_are_removed_on_recovery(tmp_path, leftover: str) -> None:
    spool = Spool(tmp_path)
    (spool.folder("tmp") / leftover).write_bytes(b"half")
    Spool(tmp_path).recover()
    assert not list(spool.folder("tmp").iterdir())
