"""``hccp53 pull`` / ``hccp53 push``: a study in, results out, over DICOMweb (WADO-RS and STOW-RS)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from hccp53.errors import InputError
from hccp53.pacs.send import SendError, dicomweb_client, send_stow
from hccp53.staging import staged_output

logger = logging.getLogger(__name__)

_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


def pull_study(url: str, study_uid: str, out: str | Path, overwrite: bool = False, timeout: float = 30.0,
               progress: bool = False) -> int:  # fmt: skip
    """Retrieve every instance of a study by WADO-RS into the folder ``out`` (whole or nothing).

    Returns
    -------
    int
        The number of instances written.

    Raises
    ------
    InputError
        ``study_uid`` is not a UID, or the server does not have that study.
    SendError
        The server could not be reached or answered with an error.
    """
    import requests

    if not _UID.match(study_uid) or len(study_uid) > 64:
        raise InputError(f"{study_uid!r} is not a Study Instance UID (digits and dots, at most 64 characters).")
    client = dicomweb_client(url, timeout)
    count = 0
    with staged_output(Path(out), overwrite=overwrite) as staging:
        try:
            instances = client.iter_study(study_uid)
            if progress:
                from tqdm import tqdm

                instances = tqdm(instances, desc="pull", unit="instance")
            for ds in instances:
                ds.save_as(staging / f"{count:06d}.dcm", enforce_file_format=True)
                count += 1
        except requests.HTTPError as error:
            code = error.response.status_code if error.response is not None else "?"
            if code == 404:
                raise InputError(f"The DICOMweb server {url} has no study {study_uid}.") from None
            raise SendError(f"The DICOMweb server {url} refused to send study {study_uid} (HTTP {code}).") from None
        except requests.RequestException as error:
            raise SendError(f"The DICOMweb server {url} could not be reached ({type(error).__name__}).") from None
        if count == 0:
            raise InputError(f"The DICOMweb server {url} returned no instance of study {study_uid}.")
    logger.info("Pulled %d instance(s) into %s.", count, out)
    return count


def result_files(paths: Iterable[str | Path]) -> list[Path]:
    """The DICOM files to push: given files, and the ``*.dcm`` files of given folders (e.g. the app's output).

    Raises
    ------
    InputError
        A path is missing, a folder has no ``.dcm`` file, or a file is not readable DICOM (nothing is sent).
    """
    import pydicom

    files: list[Path] = []
    for item in map(Path, paths):
        if item.is_dir():
            found = sorted(item.glob("*.dcm"))
            if not found:
                raise InputError(f"The folder {item} holds no .dcm file to push; give the app's output folder.")
            files.extend(found)
        elif item.is_file():
            files.append(item)
        else:
            raise InputError(f"{item} does not exist; give the app's output folder or DICOM files.")
    for path in files:
        try:
            pydicom.dcmread(path, stop_before_pixels=True)
        except (pydicom.errors.InvalidDicomError, OSError, EOFError) as error:
            raise InputError(f"{path} is not a readable DICOM file ({type(error).__name__}); nothing was "
                             "sent.") from None
    return files


def push_results(url: str, paths: Sequence[str | Path], timeout: float = 30.0) -> int:
    """STOW-RS the DICOM files of ``paths`` (files or folders); returns how many were stored."""
    files = result_files(paths)
    send_stow(files, url, timeout)
    logger.info("Stored %d object(s) at %s.", len(files), url)
    return len(files)
