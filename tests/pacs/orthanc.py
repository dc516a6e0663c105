"""A real Orthanc PACS on loopback for the tests: temporary configuration and storage, stopped at the end."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ORTHANC = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
# DCMTK (inside Orthanc) leaves Nagle on unless TCP_NODELAY is set: ~45 ms per C-STORE on loopback otherwise.
ENV = {**os.environ, "TCP_NODELAY": "1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition, timeout: float, what: str, interval: float = 0.2) -> Any:
    """Poll ``condition()`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class Orthanc:
    """Orthanc started in ``root`` with the DICOMweb plugin; REST on ``http_port``, DICOM on ``dicom_port``."""

    def __init__(self, root: Path, aet: str = "ORTHANC") -> None:
        self.root = root
        self.aet = aet
        self.http_port = free_port()
        self.dicom_port = free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.dicomweb = f"{self.url}/dicom-web"
        self.process: subprocess.Popen | None = None

    def start(self) -> Orthanc:
        storage = self.root / "storage"
        storage.mkdir(parents=True)
        config = {
            "Name": "hccp53-test", "StorageDirectory": str(storage), "IndexDirectory": str(storage),
            "DicomAet": self.aet, "DicomPort": self.dicom_port, "HttpPort": self.http_port,
            "RemoteAccessAllowed": False, "AuthenticationEnabled": False, "ConcurrentJobs": 8, "JobsHistorySize": 200,
            "Plugins": [str(DICOMWEB_PLUGIN)], "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
            "DicomScuTimeout": 30, "StableAge": 1,
        }
        (self.root / "orthanc.json").write_text(json.dumps(config))
        self.log = open(self.root / "orthanc.log", "wb")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen([ORTHANC, str(self.root / "orthanc.json")], stdout=self.log, env=ENV,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)  # fmt: skip
        wait_until(self._up, 30, "Orthanc to answer on its REST port")
        return self

    def _up(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"Orthanc exited: {(self.root / 'orthanc.log').read_text()[-2000:]}")
        try:
            return bool(self.get("/system"))
        except (urllib.error.URLError, ConnectionError):
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    # ---- REST ------------------------------------------------------------------------------------------------
    def request(self, method: str, path: str, body: bytes | dict | list | str | None = None) -> Any:
        data = body if isinstance(body, bytes) else None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        with urllib.request.urlopen(request, timeout=60) as response:
            raw = response.read()
        try:
            return json.loads(raw)
        except ValueError:
            return raw

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def upload_folder(self, folder: Path) -> str:
        """POST every file of a DICOM folder; returns the Orthanc ID of its (single) study."""
        studies = set()
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            studies.add(self.request("POST", "/instances", path.read_bytes())["ParentStudy"])
        (study,) = studies
        return study

    def add_modality(self, name: str, aet: str, port: int, host: str = "127.0.0.1") -> None:
        self.request("PUT", f"/modalities/{name}", {"AET": aet, "Host": host, "Port": port})

    def store_to(self, modality: str, study_id: str, synchronous: bool = True) -> Any:
        """C-STORE a study from Orthanc to a modality (Orthanc's REST /modalities/…/store)."""
        return self.request("POST", f"/modalities/{modality}/store",
                            {"Resources": [study_id], "Synchronous": synchronous})  # fmt: skip

    def job(self, job_id: str) -> dict:
        return self.get(f"/jobs/{job_id}")

    def study_id(self, study_uid: str) -> str | None:
        found = self.request("POST", "/tools/lookup", study_uid.encode())
        return next((f["ID"] for f in found if f["Type"] == "Study"), None)

    def series_by_modality(self, study_id: str) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {}
        for series in self.get(f"/studies/{study_id}/series"):
            out.setdefault(series["MainDicomTags"].get("Modality", ""), []).append(series)
        return out

    def instance_file(self, instance_id: str) -> bytes:
        return self.request("GET", f"/instances/{instance_id}/file")


def echo(port: int, aet: str = "HCCP53") -> bool:
    """True when a C-ECHO to ``aet`` on loopback ``port`` succeeds."""
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification

    ae = AE(ae_title="TESTSCU")
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.network_timeout = 5
    assoc = ae.associate("127.0.0.1", port, ae_title=aet)
    if not assoc.is_established:
        return False
    status = assoc.send_c_echo()
    assoc.release()
    return getattr(status, "Status", None) == 0x0000


class Serve:
    """``hccp53 serve`` as a separate process (what a site runs), with its log in the spool's parent folder."""

    def __init__(self, spool: Path, *options: str) -> None:
        self.spool = spool
        self.port = free_port()
        self.options = options
        self.process: subprocess.Popen | None = None
        self.log_path = spool.parent / f"{spool.name}.serve.log"

    def start(self, timeout: float = 120) -> Serve:
        import sys

        command = [sys.executable, "-m", "hccp53", "serve", "--spool", str(self.spool), "--port", str(self.port),
                   "--quiet-seconds", "3", *self.options]  # fmt: skip
        self.log = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop)
        root = Path(__file__).resolve().parents[2]
        self.process = subprocess.Popen(command, cwd=root, stdout=self.log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)  # fmt: skip

        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"hccp53 serve exited ({self.process.returncode}): {self.log_text()[-3000:]}")
            return echo(self.port)

        wait_until(ready, timeout, "hccp53 serve to answer C-ECHO", interval=0.5)
        return self

    def log_text(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
        self.log.close()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        return self.process.returncode
