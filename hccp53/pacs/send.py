"""Send DICOM files to a PACS: C-STORE to an AE (pynetdicom) or STOW-RS to a DICOMweb root (dicomweb-client)."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pydicom

from hccp53.errors import HccP53Error
from hccp53.pacs.config import DimseDestination

logger = logging.getLogger(__name__)

# C-STORE response statuses that mean "stored" (PS3.4 B.2.3: success and the warnings).
_STORED = {0x0000, 0xB000, 0xB006, 0xB007}


class SendError(HccP53Error):
    """The destination could not be reached or did not store an object (retried by the server)."""


def no_delay(event: Any) -> None:
    """EVT_CONN_OPEN: send each PDU at once (Nagle's algorithm made every C-STORE wait ~40 ms for an ACK)."""
    sock = getattr(getattr(event.assoc.dul, "socket", None), "socket", None)
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def send_dimse(files: Sequence[Path], destination: DimseDestination, calling_aet: str, timeout: float = 30.0,
               on_sent: Callable[[Path], None] | None = None) -> None:  # fmt: skip
    """C-STORE ``files`` to ``destination`` over one association; ``on_sent`` is called after each success.

    Raises
    ------
    SendError
        The association was rejected or not answered, or an object was not stored (the sentence says which).
    """
    from pynetdicom import AE, evt

    datasets = [(path, pydicom.dcmread(path)) for path in files]
    ae = AE(ae_title=calling_aet)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    contexts: dict[str, set[str]] = {}
    for _, ds in datasets:
        contexts.setdefault(str(ds.SOPClassUID), set()).add(str(ds.file_meta.TransferSyntaxUID))
    for sop_class, syntaxes in contexts.items():
        ae.add_requested_context(sop_class, sorted(syntaxes | {pydicom.uid.ExplicitVRLittleEndian}))
    assoc = ae.associate(destination.host, destination.port, ae_title=destination.ae_title,
                         evt_handlers=[(evt.EVT_CONN_OPEN, no_delay)])
    if not assoc.is_established:
        why = "rejected the association" if assoc.is_rejected else "did not answer"
        raise SendError(f"The destination {destination} {why}; check its AE title, address and port.")
    try:
        for path, ds in datasets:
            status = assoc.send_c_store(ds)
            code = getattr(status, "Status", None)
            if code not in _STORED:
                what = "no answer" if code is None else f"status 0x{code:04X}"
                raise SendError(f"The destination {destination} did not store {path.name} ({what}).")
            if on_sent is not None:
                on_sent(path)
    finally:
        if assoc.is_established:
            assoc.release()


def dicomweb_client(url: str, timeout: float = 30.0):
    """A :class:`dicomweb_client.DICOMwebClient` on ``url`` (the DICOMweb root, e.g. .../dicom-web)."""
    from dicomweb_client.api import DICOMwebClient

    return DICOMwebClient(url=url.rstrip("/"), timeout=timeout)


def send_stow(files: Sequence[Path], url: str, timeout: float = 30.0,
              on_sent: Callable[[Path], None] | None = None) -> None:  # fmt: skip
    """STOW-RS ``files`` to the DICOMweb root ``url``, one request per study.

    Raises
    ------
    SendError
        The server could not be reached or refused the objects (with the HTTP status).
    """
    import requests

    client = dicomweb_client(url, timeout)
    by_study: dict[str, list[tuple[Path, pydicom.Dataset]]] = {}
    for path in files:
        ds = pydicom.dcmread(path)
        by_study.setdefault(str(ds.StudyInstanceUID), []).append((path, ds))
    for study_uid, items in by_study.items():
        try:
            response = client.store_instances([ds for _, ds in items], study_instance_uid=study_uid)
        except requests.HTTPError as error:
            code = error.response.status_code if error.response is not None else "?"
            raise SendError(f"The DICOMweb server {url} refused the results (HTTP {code}).") from None
        except requests.RequestException as error:
            raise SendError(f"The DICOMweb server {url} could not be reached ({type(error).__name__}).") from None
        failed = response.get("FailedSOPSequence") if response is not None else None
        if failed:
            raise SendError(f"The DICOMweb server {url} did not store {len(failed)} of {len(items)} objects.")
        if on_sent is not None:
            for path, _ in items:
                on_sent(path)
