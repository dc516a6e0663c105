"""Round trips with a real PACS: Orthanc (Debian's, with its DICOMweb plugin) on loopback.

Orthanc C-STOREs a study to ``hccp53 serve`` (its REST ``/modalities/…/store``), the app runs, the SR, SEG
and summary PDF come back into the same study; the same through DICOMweb (``hccp53 pull`` / ``push``) and
with STOW-RS as the server's destination; then 20 studies at once with the server killed half-way.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pydicom
import pytest

from hccp53.cli import main as cli
from hccp53.deploy import run_study
from hccp53.dicomio.sr import SR_DESCRIPTION, read_result
from hccp53.predictor import Predictor
from hccp53.settings import read_settings
from hccp53.synth.cohort import generate_cohort

from .orthanc import Serve, free_port, wait_until

pytestmark = pytest.mark.pacs
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor(ROOT / "models", read_settings(), device="cpu")


@pytest.fixture(scope="module")
def serve(orthanc, tmp_path_factory: pytest.TempPathFactory):
    server = Serve(tmp_path_factory.mktemp("serve") / "spool", "--destination",
                   f"{orthanc.aet}@127.0.0.1:{orthanc.dicom_port}").start()  # fmt: skip
    orthanc.add_modality("hccp53", "HCCP53", server.port)
    yield server
    assert server.stop() == 0, server.log_text()[-2000:]


def _study_uid(case: Path) -> str:
    return str(pydicom.dcmread(next((case / "dicom").rglob("*.dcm")), stop_before_pixels=True).StudyInstanceUID)


def _results(orthanc, study_id: str, modalities=("SR", "SEG", "DOC")) -> dict[str, list[dict]]:
    series = orthanc.series_by_modality(study_id)
    return series if all(m in series for m in modalities) else {}


def _sr(orthanc, series: dict) -> pydicom.Dataset:
    (instance,) = series["Instances"]
    return pydicom.dcmread(io.BytesIO(orthanc.instance_file(instance)))


def test_a_study_sent_by_the_pacs_gets_its_results_back(orthanc, serve, cohort: Path, predictor: Predictor,
                                                        tmp_path: Path) -> None:  # fmt: skip
    case = cohort / "cases" / "SYN0004"
    study_id = orthanc.upload_folder(case / "dicom")
    job = orthanc.store_to("hccp53", study_id)
    assert job["FailedInstancesCount"] == 0 and job["InstancesCount"] > 100
    def all_results() -> dict:
        series = _results(orthanc, study_id)
        return series if series and len(series["SR"]) == 2 else {}  # the result SR and the key-slice SR

    series = wait_until(all_results, 180, "both SRs, the SEG and the PDF in the study on Orthanc")
    assert all(len(series[m]) == 1 for m in ("SEG", "DOC"))
    (main,) = [s for s in series["SR"] if s["MainDicomTags"].get("SeriesDescription") == SR_DESCRIPTION]
    sr = _sr(orthanc, main)  # the result SR; the other is the key-slice SR
    found = read_result(sr)
    expected = run_study(case / "dicom", tmp_path / "direct", predictor)  # the library on the same study
    assert found["study_instance_uid"] == _study_uid(case)
    assert found["p53_probability"] == pytest.approx(expected["p53_probability"], abs=1e-6)
    assert found["p53_status"] == expected["p53_status"]
    truth = json.loads((case / "truth.json").read_text())["phases"]
    assert {lesion["source_series_uid"] for lesion in found["lesions"]} == {truth["pvp"]["series_instance_uid"]}
    (seg_instance,) = series["SEG"][0]["Instances"]
    seg = pydicom.dcmread(io.BytesIO(orthanc.instance_file(seg_instance)))
    assert {lesion["referenced_seg_uid"] for lesion in found["lesions"]} == {seg.SOPInstanceUID}
    source = pydicom.dcmread(next((case / "dicom").rglob("*.dcm")), stop_before_pixels=True)
    identifiers = [str(source.PatientName), str(source.PatientID), str(source.get("PatientBirthDate", ""))]
    log = serve.log_text()
    assert all(len(i) >= 4 for i in identifiers)  # the check below means something
    assert not [i for i in identifiers if i in log], "patient identifiers in the serve log"
    assert str(sr.PatientID) == str(source.PatientID)  # ...but the SR carries them, into the same study


def test_pull_and_push_over_dicomweb(orthanc, cohort: Path, predictor: Predictor, tmp_path: Path,
                                     capsys: pytest.CaptureFixture) -> None:  # fmt: skip
    case = cohort / "cases" / "SYN0005"
    study_id = orthanc.upload_folder(case / "dicom")
    study_uid = _study_uid(case)
    assert cli(["pull", "--dicomweb", orthanc.dicomweb, "--study", study_uid, "--out", str(tmp_path / "in")]) == 0
    pulled = sorted((tmp_path / "in").glob("*.dcm"))
    assert len(pulled) == len(list((case / "dicom").rglob("*.dcm")))
    result = run_study(tmp_path / "in", tmp_path / "out", predictor)
    assert cli(["push", "--dicomweb", orthanc.dicomweb, str(tmp_path / "out")]) == 0
    assert "Stored 4 object(s)" in capsys.readouterr().out  # SR, key-slice SR, SEG, PDF
    series = wait_until(lambda: _results(orthanc, study_id), 30, "the pushed results in Orthanc")
    (main,) = [s for s in series["SR"] if s["MainDicomTags"].get("SeriesDescription") == SR_DESCRIPTION]
    stored = read_result(_sr(orthanc, main))["p53_probability"]
    assert stored == pytest.approx(result["p53_probability"], abs=1e-6)  # a DS value: 6 significant digits
    from hccp53.pacs.send import dicomweb_client

    found = dicomweb_client(orthanc.dicomweb).search_for_series(study_uid, search_filters={"Modality": "SR"})
    assert len(found) == 2  # QIDO-RS sees both SRs too


def test_dicomweb_errors_are_one_sentence(orthanc, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli(["pull", "--dicomweb", orthanc.dicomweb, "--study", "1.2.3.999", "--out", str(tmp_path / "a")]) == 1
    assert "has no study 1.2.3.999" in capsys.readouterr().err and not (tmp_path / "a").exists()
    closed = f"http://127.0.0.1:{free_port()}/dicom-web"
    assert cli(["pull", "--dicomweb", closed, "--study", "1.2.3", "--out", str(tmp_path / "b")]) == 1
    assert "could not be reached" in capsys.readouterr().err
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "x.dcm").write_bytes(b"not dicom")
    assert cli(["push", "--dicomweb", orthanc.dicomweb, str(tmp_path / "r")]) == 1
    assert "is not a readable DICOM file" in capsys.readouterr().err
    assert cli(["push", "--destination", f"ORTHANC@127.0.0.1:{free_port()}", str(tmp_path / "r")]) == 1


def test_results_by_stow_rs(orthanc, cohort: Path, tmp_path: Path) -> None:
    server = Serve(tmp_path / "spool", "--stow-url", orthanc.dicomweb).start()
    try:
        orthanc.add_modality("hccp53stow", "HCCP53", server.port)
        study_id = orthanc.upload_folder(cohort / "cases" / "SYN0006" / "dicom")
        assert orthanc.store_to("hccp53stow", study_id)["FailedInstancesCount"] == 0
        series = wait_until(lambda: _results(orthanc, study_id), 180, "results stored by STOW-RS")
        assert read_result(_sr(orthanc, series["SR"][0]))["study_instance_uid"] == _study_uid(
            cohort / "cases" / "SYN0006")
    finally:
        assert server.stop() == 0


@pytest.fixture(scope="module")
def twenty(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("twenty") / "c20"
    generate_cohort(out, 20, seed=11, profile="small", workers=2, preview=False, progress=False)
    return out


@pytest.mark.slow  # 4 to 6 minutes on 2 cores: `make test-slow` runs it
def test_twenty_studies_at_once_with_a_crash_half_way(orthanc, twenty: Path, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    server = Serve(spool, "--destination", f"{orthanc.aet}@127.0.0.1:{orthanc.dicom_port}",
                   "--quiet-seconds", "3").start()  # fmt: skip
    orthanc.add_modality("hccp53load", "HCCP53", server.port)
    cases = sorted((twenty / "cases").iterdir())
    ids = {_study_uid(case): orthanc.upload_folder(case / "dicom") for case in cases}
    jobs = [orthanc.store_to("hccp53load", study_id, synchronous=False)["ID"] for study_id in ids.values()]

    def stored() -> bool:
        states = [orthanc.job(j)["State"] for j in jobs]
        assert "Failure" not in states, states
        return all(s == "Success" for s in states)

    wait_until(stored, 300, "Orthanc to send the 20 studies")  # every instance acknowledged = on disk
    delivered = lambda: sum(1 for line in (spool / "delivered.jsonl").read_text().splitlines() if line.strip()) \
        if (spool / "delivered.jsonl").is_file() else 0  # noqa: E731
    wait_until(lambda: delivered() >= 3, 300, "the first results")
    server.kill()  # SIGKILL: no clean-up at all
    assert delivered() < 20
    restarted = Serve(spool, "--destination", f"{orthanc.aet}@127.0.0.1:{orthanc.dicom_port}",
                      "--quiet-seconds", "3")  # fmt: skip
    restarted.port = server.port
    restarted.start()
    try:
        wait_until(lambda: delivered() >= 20, 600, "all 20 results after the restart")
    finally:
        assert restarted.stop() == 0
    for study_uid, study_id in ids.items():
        series = orthanc.series_by_modality(study_id)
        counts = {m: sum(len(s["Instances"]) for s in series.get(m, [])) for m in ("SR", "SEG", "DOC")}
        # exactly once each: the result SR and the key-slice SR, the SEG, the PDF
        assert counts == {"SR": 2, "SEG": 1, "DOC": 1}, (study_uid, counts)
    for state in ("incoming", "work", "outbox", "failed", "rejected"):
        assert not list((spool / state).iterdir()), state
    assert len({json.loads(line)["study_key"] for line in (spool / "delivered.jsonl").read_text().splitlines()}) == 20
