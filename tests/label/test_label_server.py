"""The MONAI Label app end to end: a real server (label/.venv) on loopback, driven over HTTP.

The server runs in its own environment (monailabel 0.8.5 needs numpy<2 and pydicom<3); these tests run
in the main one and talk to it with urllib. They skip, saying why, when label/.venv does not exist
(`make label-setup` creates it; `make test` does so first).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from hccp53.synth.cohort import generate_cohort

pytestmark = pytest.mark.label

REPOSITORY = Path(__file__).resolve().parents[2]
LABEL_PYTHON = REPOSITORY / "label" / ".venv" / "bin" / "python"
START_TIMEOUT_S = 180
TRAIN_TIMEOUT_S = 600

if not LABEL_PYTHON.exists():
    pytest.skip(f"{LABEL_PYTHON} does not exist: run `make label-setup` to create the MONAI Label environment",
                allow_module_level=True)  # fmt: skip


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    studies: Path
    cohort: Path
    model_dir: Path
    log: Path

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def request(server: Server, method: str, path: str, body: bytes | None = None, content_type: str | None = None,
            timeout: float = 300) -> tuple[int, bytes]:  # fmt: skip
    """(status, body) of one HTTP request; error statuses are returned, not raised."""
    req = urllib.request.Request(server.url + path, data=body, method=method)
    if content_type:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def post_json(server: Server, path: str, payload: dict, timeout: float = 300) -> tuple[int, bytes]:
    return request(server, "POST", path, json.dumps(payload).encode(), "application/json", timeout)


def upload(server: Server, method: str, path: str, field: str, filename: str, data: bytes) -> tuple[int, bytes]:
    """A multipart/form-data request with one file field (as MONAI Label clients send)."""
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return request(server, method, path, body, f"multipart/form-data; boundary={boundary}")


def detail(body: bytes) -> str:
    return str(json.loads(body).get("detail", ""))


def dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0, b > 0
    return float(2 * (a & b).sum() / max(1, a.sum() + b.sum()))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`hccp53 synth --cases 4 --seed 3` -> a studies folder -> the server on a free loopback port."""
    root = tmp_path_factory.mktemp("label")
    cohort = root / "cohort"
    generate_cohort(cohort, 4, seed=3, profile="small", workers=1, progress=False)
    studies = root / "studies"
    subprocess.run([sys.executable, str(REPOSITORY / "label" / "make_datastore.py"), "build",
                    str(cohort / "datalist.json"), str(studies)], check=True, capture_output=True)  # fmt: skip
    port = _free_port()
    log = root / "server.log"
    model_dir = root / "model"
    command = [str(LABEL_PYTHON), "-m", "monailabel.main", "start_server", "--app", str(REPOSITORY / "label"),
               "--studies", str(studies), "--host", "127.0.0.1", "--port", str(port),
               "--conf", "model_dir", str(model_dir), "--conf", "tta_candidates", "2"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PYTHONPATH"] = str(REPOSITORY)  # this checkout's hccp53, whichever checkout label/.venv was built from
    with open(log, "wb") as out:
        # its own session: the training processes it starts can be ended with it (process group = its PID)
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=root, env=env,
                                   start_new_session=True)  # fmt: skip
    srv = Server(f"http://127.0.0.1:{port}", process, studies, cohort, model_dir, log)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"the MONAI Label server exited with code {process.returncode}:\n{srv.log_tail()}")
            try:
                if request(srv, "GET", "/info/", timeout=5)[0] == 200:
                    break
            except OSError:
                pass  # not listening yet: the deadline below ends the wait
            if time.monotonic() > deadline:
                pytest.fail(f"the server did not answer /info/ within {START_TIMEOUT_S} s:\n{srv.log_tail()}")
            time.sleep(1)
        yield srv
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
        try:  # a training process the server started and left behind (a test that failed mid-training)
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_info(server: Server) -> None:
    status, body = request(server, "GET", "/info/")
    assert status == 200
    info = json.loads(body)
    assert "segmentation" in info["models"] and info["models"]["segmentation"]["labels"] == {"tumor": 1}
    assert "segmentation" in info["trainers"]
    assert {"random", "tta_variance"} <= set(info["strategies"])
    assert info["datastore"]["total"] == 4


def test_bad_requests_get_4xx_and_the_server_keeps_serving(server: Server) -> None:
    status, body = request(server, "POST", "/infer/segmentation?image=NO_SUCH_CASE")
    assert status == 404 and "NO_SUCH_CASE" in detail(body)
    status, body = request(server, "POST", "/infer/no_such_model?image=SYN0001")
    assert status == 404 and "no_such_model" in detail(body)

    status, body = upload(server, "POST", "/infer/segmentation", "file", "upload.nii.gz", b"not a NIfTI file")
    assert status == 422 and "not a readable NIfTI" in detail(body), body
    single = server.cohort / "cases" / "SYN0002" / "nifti" / "pvp.nii.gz"
    status, body = upload(server, "POST", "/infer/segmentation", "file", "upload.nii.gz", single.read_bytes())
    assert status == 422 and "4D NIfTI" in detail(body), body

    status, body = upload(server, "PUT", "/datastore/label?image=SYN0002", "label", "SYN0002.nii.gz", b"\x1f\x8b junk")
    assert status == 422 and "not a readable image" in detail(body), body
    other = server.studies.parent / "other_grid.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((16, 16, 8), np.uint8), np.diag([2.0, 2.0, 2.0, 1.0])), other)
    status, body = upload(server, "PUT", "/datastore/label?image=SYN0002", "label", "SYN0002.nii.gz",
                          other.read_bytes())
    assert status == 422 and "voxel grid" in detail(body), body
    image = nib.load(server.studies / "SYN0002.nii.gz")
    many = server.studies.parent / "many_labels.nii.gz"
    nib.save(nib.Nifti1Image(np.full(image.shape, 3, np.uint8), image.affine), many)
    status, body = upload(server, "PUT", "/datastore/label?image=SYN0002", "label", "SYN0002.nii.gz", many.read_bytes())
    assert status == 422 and "besides 0" in detail(body), body
    status, body = upload(server, "PUT", "/datastore/label?image=NO_SUCH_CASE", "label", "x.nii.gz", many.read_bytes())
    assert status == 404, body

    status, body = post_json(server, "/activelearning/no_such_strategy", {})
    assert status == 404 and "no_such_strategy" in detail(body)
    status, body = post_json(server, "/train/segmentation?run_sync=true", {"max_epochs": 1})
    assert status == 409 and "No final labels" in detail(body), body

    assert not (server.studies / "labels" / "final" / "SYN0002.nii.gz").exists()  # nothing refused was stored
    assert server.process.poll() is None
    assert request(server, "GET", "/info/")[0] == 200


def test_infer_on_an_uploaded_phase_stack(server: Server) -> None:
    """A client may upload the case instead of naming it: one 4D NIfTI with t2, ap, pvp along the 4th axis."""
    folder = server.cohort / "cases" / "SYN0003" / "nifti"
    phases = [nib.load(folder / f"{p}.nii.gz") for p in ("t2", "ap", "pvp")]
    stack = np.stack([np.asarray(p.dataobj, dtype=np.float32) for p in phases], axis=-1)
    path = server.studies.parent / "SYN0003_stack.nii.gz"
    nib.save(nib.Nifti1Image(stack, phases[0].affine), path)
    status, body = upload(server, "POST", "/infer/segmentation?output=image", "file", "stack.nii.gz", path.read_bytes())
    assert status == 200, body[:500]
    proposed = server.studies.parent / "SYN0003_proposed.nii.gz"
    proposed.write_bytes(body)
    mask = nib.load(proposed)
    assert mask.shape == phases[0].shape
    np.testing.assert_allclose(mask.affine, phases[0].affine, atol=1e-3)
    truth = nib.load(folder / "tumor_mask.nii.gz")
    score = dice(np.asarray(mask.dataobj), np.asarray(truth.dataobj))
    print(f"Dice of the proposed mask of the uploaded SYN0003 stack against the truth: {score:.3f}")
    assert score >= 0.7


def test_infer_save_next_train(server: Server) -> None:
    # inference on a synthetic case, with the shipped demo weights
    status, body = request(server, "POST", "/infer/segmentation?image=SYN0001&output=image")
    assert status == 200, body[:500]
    proposed = server.studies.parent / "SYN0001_proposed.nii.gz"
    proposed.write_bytes(body)
    mask = nib.load(proposed)
    image = nib.load(server.studies / "SYN0001.nii.gz")
    truth = nib.load(server.cohort / "cases" / "SYN0001" / "nifti" / "tumor_mask.nii.gz")
    assert mask.shape == image.shape
    np.testing.assert_allclose(mask.affine, image.affine, atol=1e-3)
    score = dice(np.asarray(mask.dataobj), np.asarray(truth.dataobj))
    print(f"Dice of the proposed mask of SYN0001 against the truth: {score:.3f}")
    assert score >= 0.7

    # the annotator's corrected mask is saved as the final label
    status, body = upload(server, "PUT", "/datastore/label?image=SYN0001&tag=final", "label", "SYN0001.nii.gz",
                          (server.cohort / "cases" / "SYN0001" / "nifti" / "tumor_mask.nii.gz").read_bytes())
    assert status == 200, body
    assert (server.studies / "labels" / "final" / "SYN0001.nii.gz").is_file()

    # active learning proposes an unlabeled case
    for strategy in ("random", "tta_variance"):
        status, body = post_json(server, f"/activelearning/{strategy}", {})
        assert status == 200, body
        proposal = json.loads(body)
        assert proposal["id"] in {"SYN0002", "SYN0003", "SYN0004"}, proposal
    assert proposal["score"] >= 0.0

    # one short training epoch on the saved label, then inference with the fine-tuned weights
    status, body = post_json(server, "/train/segmentation", {"max_epochs": 1})
    assert status == 200, body
    deadline = time.monotonic() + TRAIN_TIMEOUT_S
    while True:
        time.sleep(3)
        status, body = request(server, "GET", "/train/")
        task = json.loads(body)
        if task.get("status") not in ("SUBMITTED", "RUNNING"):
            break
        assert time.monotonic() < deadline, "training did not finish in time"
    assert task["status"] == "DONE", task
    weights = server.model_dir / "tumor_segmentation.pt"
    assert weights.is_file()
    assert "tumor_segmentation.pt" in json.loads((server.model_dir / "checksums.json").read_text())
    stats = json.loads(request(server, "GET", "/info/")[1])["train_stats"]["segmentation"]
    assert stats["epoch"] == 1

    status, body = request(server, "POST", "/infer/segmentation?image=SYN0002&output=json")
    assert status == 200, body[:500]
    result = json.loads(body)
    assert result["weights"] == str(weights.resolve()), result
    status, body = request(server, "POST", "/infer/segmentation?image=SYN0002&output=image")
    assert status == 200, body[:500]
    tuned = server.studies.parent / "SYN0002_tuned.nii.gz"
    tuned.write_bytes(body)
    truth = nib.load(server.cohort / "cases" / "SYN0002" / "nifti" / "tumor_mask.nii.gz")
    score = dice(np.asarray(nib.load(tuned).dataobj), np.asarray(truth.dataobj))
    print(f"Dice on SYN0002 after one fine-tuning epoch: {score:.3f}")  # a figure for docs/label.md, not a goal

