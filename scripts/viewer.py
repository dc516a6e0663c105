"""``make viewer``: a synthetic study and the app's results in a real Orthanc, shown by MONAI Label's OHIF viewer.

1. ``hccp53 synth`` makes one study (small profile) and the app (:func:`hccp53.deploy.run_study`) writes its
   DICOM SR, SEG and encapsulated PDF (both kept under ``--out``, reused on the next run);
2. Orthanc (Debian's, with its DICOMweb plugin) starts on loopback with its storage under ``--out``, and the
   source series and the three results are stored in it (REST ``POST /instances``);
3. the MONAI Label app (``label/.venv``) starts with ``--studies`` the Orthanc's DICOMweb root, so that OHIF at
   ``http://127.0.0.1:PORT/ohif/`` reads the study through MONAI Label's ``/proxy/dicom/``, and the app's infer
   task runs on it (``docs/viewer.md``); OHIF's configuration is ``label/ohif/app-config.js``
   (``label/lib/ohif.py``), which lets OHIF fetch the encapsulated PDF.

It runs until Ctrl-C and then stops both servers. ``tests/test_viewer.py`` starts the same setup with
:class:`ViewerSetup`. Research use only; not a medical device.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parents[1]
LABEL_PYTHON = REPOSITORY / "label" / ".venv" / "bin" / "python"
ORTHANC = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
CASE = "SYN0001"
PROXY_ROOT = "/proxy/dicom"  # MONAI Label's DICOMweb proxy (monailabel/endpoints/proxy.py)

logger = logging.getLogger("viewer")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http(method: str, url: str, body: bytes | None = None, timeout: float = 60) -> tuple[int, bytes]:
    """(status, body) of one request; HTTP error statuses are returned, not raised."""
    request = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def make_study(out: Path) -> tuple[Path, Path, dict[str, Any]]:
    """The synthetic study and the app's results on it: (study folder, results folder, result.json)."""
    from hccp53.deploy import RESULT_FILE, run_study
    from hccp53.predictor import Predictor
    from hccp53.settings import read_settings
    from hccp53.synth.cohort import generate_cohort

    study = out / "cohort" / "cases" / CASE / "dicom"
    if not study.is_dir():
        logger.info("Generating the synthetic study %s.", CASE)
        generate_cohort(out / "cohort", 1, seed=1, profile="small", workers=1, preview=False, progress=False,
                        overwrite=True)  # fmt: skip
    results = out / "result"
    if not (results / RESULT_FILE).is_file():
        logger.info("Running the app on it (SR, SEG, PDF into %s).", results)
        shutil.rmtree(results, ignore_errors=True)
        run_study(study, results, Predictor(REPOSITORY / "models", read_settings()))
    return study, results, json.loads((results / RESULT_FILE).read_text(encoding="utf-8"))


class Process:
    """A server started in its own session, its output in ``log``, stopped with SIGTERM (then SIGKILL)."""

    def __init__(self, command: list[str], log: Path, env: dict[str, str] | None = None, cwd: Path | None = None):
        self.log = log
        with open(log, "ab") as handle:
            self.process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            env=env, cwd=cwd, start_new_session=True)  # fmt: skip

    def wait_until(self, ready, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{what} exited with code {self.process.returncode}:\n{self.tail()}")
            try:
                if ready():
                    return
            except OSError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not answer within {timeout:.0f} s:\n{self.tail()}")
            time.sleep(0.5)

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
        try:  # anything the server started and left behind (MONAI Label's training processes)
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class ViewerSetup:
    """Orthanc with the study and its results, and MONAI Label (with OHIF) reading it over DICOMweb.

    Parameters
    ----------
    out
        Working folder: the study, the app's results, Orthanc's storage, MONAI Label's cache and the logs.
    port
        MONAI Label's port on 127.0.0.1 (0: a free one).
    orthanc_port
        Orthanc's HTTP port on 127.0.0.1 (0: a free one).
    """

    def __init__(self, out: Path, port: int = 0, orthanc_port: int = 0) -> None:
        self.out = out.resolve()
        self.port = port or free_port()
        self.orthanc_port = orthanc_port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.orthanc_url = f"http://127.0.0.1:{self.orthanc_port}"
        # Orthanc's DICOMweb root is MONAI Label's proxy path and its Host header MONAI Label's address, so the
        # BulkDataURIs in its metadata (the PDF's EncapsulatedDocument) point at the proxy: the browser
        # reaches Orthanc only through MONAI Label (another origin would be refused, CORS)
        self.dicomweb = f"{self.orthanc_url}{PROXY_ROOT}"
        self.orthanc: Process | None = None
        self.label: Process | None = None
        self.result: dict[str, Any] = {}
        self.study_dir: Path | None = None
        self.results_dir: Path | None = None

    def check(self) -> None:
        """Refuse to start, with a sentence, when a piece is not installed."""
        if not (os.access(ORTHANC, os.X_OK) and DICOMWEB_PLUGIN.is_file()):
            raise RuntimeError("Orthanc with its DICOMweb plugin is not installed: run `make system` "
                               "(scripts/setup_system.sh installs orthanc and orthanc-dicomweb).")  # fmt: skip
        if not LABEL_PYTHON.exists():
            raise RuntimeError(f"{LABEL_PYTHON} does not exist: run `make label-setup`.")

    def start(self) -> ViewerSetup:
        self.check()
        self.out.mkdir(parents=True, exist_ok=True)
        self.study_dir, self.results_dir, self.result = make_study(self.out)
        try:
            self._start_orthanc()
            self._store()
            self._start_label()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_orthanc(self) -> None:
        root = self.out / "orthanc"
        shutil.rmtree(root, ignore_errors=True)  # a fresh PACS each time: only this study in it
        (root / "storage").mkdir(parents=True)
        config = {
            "Name": "hccp53-viewer", "StorageDirectory": str(root / "storage"), "IndexDirectory": str(root / "storage"),
            "HttpPort": self.orthanc_port, "DicomPort": free_port(), "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False, "Plugins": [str(DICOMWEB_PLUGIN)],
            "DicomWeb": {"Enable": True, "Root": f"{PROXY_ROOT}/", "Host": f"127.0.0.1:{self.port}",
                         "StudiesMetadata": "Full", "SeriesMetadata": "Full"},
        }
        (root / "orthanc.json").write_text(json.dumps(config, indent=2))
        self.orthanc = Process([ORTHANC, str(root / "orthanc.json")], root / "orthanc.log",
                               env={**os.environ, "TCP_NODELAY": "1"})  # fmt: skip
        self.orthanc.wait_until(lambda: http("GET", f"{self.orthanc_url}/system", timeout=5)[0] == 200, 60, "Orthanc")

    def _store(self) -> None:
        files = sorted(p for p in self.study_dir.rglob("*") if p.is_file())
        files += sorted(self.results_dir.glob("*.dcm"))
        for path in files:
            status, body = http("POST", f"{self.orthanc_url}/instances", path.read_bytes())
            if status != 200:
                raise RuntimeError(f"Orthanc refused {path.name} (HTTP {status}): {body[:200]!r}")
        logger.info("Stored %d instances (the study, its SR, SEG and PDF) in Orthanc %s.", len(files), self.orthanc_url)

    def _start_label(self) -> None:
        command = [str(LABEL_PYTHON), "-m", "monailabel.main", "start_server", "--app", str(REPOSITORY / "label"),
                   "--studies", self.dicomweb, "--host", "127.0.0.1", "--port", str(self.port),
                   "--conf", "model_dir", str(self.out / "model"),
                   "--uvicorn_app", "lib.ohif:app"]  # MONAI Label with label/ohif/app-config.js  # fmt: skip
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        # this checkout's hccp53, whichever one label/.venv was built from, and the label app's lib (lib.ohif)
        env["PYTHONPATH"] = os.pathsep.join((str(REPOSITORY), str(REPOSITORY / "label")))
        env["MONAI_LABEL_DATASTORE_CACHE_PATH"] = str(self.out / "cache")
        self.label = Process(command, self.out / "monailabel.log", env=env, cwd=self.out)
        self.label.wait_until(lambda: http("GET", f"{self.url}/info/", timeout=5)[0] == 200, 240, "MONAI Label")

    def stop(self) -> None:
        for process in (self.label, self.orthanc):
            if process is not None:
                process.stop()

    def __enter__(self) -> ViewerSetup:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--out", type=Path, default=REPOSITORY / "runs" / "viewer",
                        help="working folder (study, results, Orthanc storage, logs); default runs/viewer")
    parser.add_argument("--port", type=int, default=8000, help="MONAI Label's port on 127.0.0.1 (default 8000)")
    parser.add_argument("--orthanc-port", type=int, default=8042, help="Orthanc's HTTP port (default 8042)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="viewer: %(message)s")
    logging.getLogger("highdicom").setLevel(logging.WARNING)  # one line per copied module otherwise
    setup = ViewerSetup(args.out, args.port, args.orthanc_port)
    try:
        setup.start()
    except RuntimeError as error:
        print(f"viewer: {error}", file=sys.stderr)
        return 1
    try:
        pvp = setup.result["phases"]["pvp"]["series_instance_uid"]
        print(f"viewer: OHIF   {setup.url}/ohif/  (the study {setup.result['study_instance_uid']}; "
              f"P53 {setup.result['p53_status']}, probability {setup.result['p53_probability']:.3f})")
        print(f"viewer: Orthanc {setup.orthanc_url}/app/explorer.html, DICOMweb {setup.dicomweb}")
        print(f"viewer: MONAI Label infer on the PVP series: curl -X POST "
              f"'{setup.url}/infer/segmentation?image={pvp}&output=json'")
        print("viewer: Ctrl-C stops both servers.", flush=True)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop the servers on SIGTERM too
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        setup.stop()
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPOSITORY))
    sys.exit(main())
