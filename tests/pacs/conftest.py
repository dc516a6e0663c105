"""Fixtures of the PACS tests: a real Orthanc and ``hccp53 serve`` processes on loopback."""

from __future__ import annotations

import os

import pytest

from .orthanc import DICOMWEB_PLUGIN, ORTHANC, Orthanc


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory):
    if not (os.access(ORTHANC, os.X_OK) and DICOMWEB_PLUGIN.is_file()):
        pytest.skip("Orthanc with its DICOMweb plugin is not installed (scripts/setup_system.sh installs it)")
    server = Orthanc(tmp_path_factory.mktemp("orthanc")).start()
    yield server
    server.stop()
