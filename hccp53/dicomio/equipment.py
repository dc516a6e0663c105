"""The algorithm as contributing equipment of every object hccp53 writes (IHE Radiology AI Results, AIR).

IHE AIR section 6.5.3.1 (Algorithm Identification) asks each result object to name the algorithm in
(0018,A001) *Contributing Equipment Sequence* (PS3.3 C.12.1, SOP Common module): (0040,A170) *Purpose of
Reference Code Sequence* (1630, 99IHE, "Processing Algorithm"), (0008,0070) *Manufacturer*, (0008,1090)
*Manufacturer's Model Name*, (0018,1020) *Software Versions* and (0018,1002) *Device UID*, a UID that
changes whenever the model is retrained. Ours is the model's UID, derived from the weights' sha256
(:func:`hccp53.model.record.weights_uid`). The item is added after the items highdicom writes (the
acquisition equipment of the source images, highdicom itself). The same UID is the (0018,1002) *Device UID*
of the General Equipment module (PS3.3 C.7.5.1: the equipment that produced the instance) and, in the SR,
the TID 1004 Device Observer UID, which PS3.16 expects to equal it.

dicom3tools' dciodvfy of 2022 (Debian 12) does not know Device UID inside the Contributing Equipment Sequence
and warns that the object is therefore "Standard Extended"; IHE AIR asks for it there all the same.
"""

from __future__ import annotations

import datetime

import highdicom as hd
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from hccp53.dicomio.codes import IHE_SCHEME, PROCESSING_ALGORITHM, AlgorithmInfo, coding_schemes


def algorithm_equipment(algorithm: AlgorithmInfo) -> hd.ContributingEquipment:
    """The Contributing Equipment Sequence item that identifies ``algorithm`` (see the module docstring).

    highdicom's :class:`highdicom.ContributingEquipment` accepts only the DCM purposes of CID 7005, so the item
    is made as "Processing Equipment" and its purpose then set to the IHE code; it has no Device UID argument.
    """
    item = hd.ContributingEquipment(
        manufacturer=algorithm.manufacturer,
        purpose_of_reference=codes.DCM.ProcessingEquipment,
        manufacturer_model_name=algorithm.name,
        software_versions=algorithm.version,
        contribution_datetime=datetime.datetime.now(),
        contribution_description="Algorithm that made the results of this instance",
    )
    item.PurposeOfReferenceCodeSequence = [PROCESSING_ALGORITHM]
    if algorithm.device_uid is not None:
        item.DeviceUID = algorithm.device_uid
    return item


def add_algorithm_equipment(dataset: Dataset, algorithm: AlgorithmInfo) -> None:
    """Append the algorithm's item to ``dataset``'s Contributing Equipment Sequence, set its Device UID (General
    Equipment) to the model's and declare the 99IHE scheme in its (0008,0110) *Coding Scheme Identification
    Sequence*."""
    if algorithm.device_uid is not None:
        dataset.DeviceUID = algorithm.device_uid
    equipment = list(dataset.get("ContributingEquipmentSequence", []))
    dataset.ContributingEquipmentSequence = [*equipment, algorithm_equipment(algorithm)]
    schemes = list(dataset.get("CodingSchemeIdentificationSequence", []))
    if not any(item.CodingSchemeDesignator == IHE_SCHEME for item in schemes):
        dataset.CodingSchemeIdentificationSequence = [*schemes, *coding_schemes(IHE_SCHEME)]
