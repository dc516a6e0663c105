"""The summary PDF as a DICOM Encapsulated PDF (PS3.3 A.45.1, SOP class 1.2.840.10008.5.1.4.1.1.104.1).

Built on highdicom's :class:`highdicom.SOPClass` (the Patient, General Study, General Series, General
Equipment and SOP Common modules), which copies the patient and study modules from the first source
image, as it does for the SEG and SR: the document joins the source study as a new series whose
description says research use. The Encapsulated Document Series, SC Equipment and Encapsulated Document
modules (PS3.3 C.24.1, C.8.6.1, C.24.2) are set here: (0008,0060) *Modality* DOC, (0008,0064) *Conversion
Type* WSD (made by software), (0042,0012) *MIME Type of Encapsulated Document* application/pdf, (0042,0010)
*Document Title*, (0040,A043) *Concept Name Code Sequence* LOINC 18748-4 "Diagnostic Imaging Report" (from
CID 7020 Document Titles), (0028,0301) *Burned In Annotation* YES, (0040,A493) *Verification Flag*
UNVERIFIED and (0042,0013) *Source Instance Sequence* listing the reference phase's images that the page
shows. Like the SR and SEG, it names the algorithm in (0018,A001) *Contributing Equipment Sequence* with the
model's UID (:mod:`hccp53.dicomio.equipment`, IHE AIR).
"""

from __future__ import annotations

import datetime
import logging

import highdicom as hd
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import EncapsulatedPDFStorage, ExplicitVRLittleEndian
from pydicom.valuerep import DT

from hccp53.dicomio.codes import AlgorithmInfo
from hccp53.dicomio.equipment import add_algorithm_equipment
from hccp53.dicomio.seg import source_datasets
from hccp53.dicomio.stack import ImageStack, Study
from hccp53.errors import InputError

logger = logging.getLogger(__name__)

PDF_SERIES_NUMBER = 9903
PDF_DESCRIPTION = "hccp53 P53 summary (research use only)"
PDF_TITLE = "hccp53 P53 mutation summary (research use only)"


def _reference(source: Dataset) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = source.SOPClassUID
    item.ReferencedSOPInstanceUID = source.SOPInstanceUID
    return item


def encapsulated_pdf(
    pdf: bytes,
    study: Study,
    stack: ImageStack,
    algorithm: AlgorithmInfo,
    series_number: int = PDF_SERIES_NUMBER,
    series_description: str = PDF_DESCRIPTION,
    document_title: str = PDF_TITLE,
) -> hd.SOPClass:
    """The Encapsulated PDF Storage object of ``pdf``, joining the study of ``stack`` (see the module docstring).

    Parameters
    ----------
    pdf
        The bytes of a PDF file (they begin with ``%PDF-``).
    study, stack
        The loaded study and the stack the page was made from (the reference phase): its images are the
        source of the patient and study modules and are listed in the Source Instance Sequence.
    algorithm
        Manufacturer, model name (``algorithm.name``) and software version of the new series; with the model's
        UID, the contributing equipment.
    series_number, series_description, document_title
        Of the new series and document.

    Returns
    -------
    highdicom.SOPClass
        A dataset with its file meta information (Explicit VR Little Endian), ready for ``save_as``.

    Raises
    ------
    InputError
        ``pdf`` is not a PDF, or the stack is an Enhanced (multi-frame) series.
    """
    if not pdf.startswith(b"%PDF-"):
        raise InputError(f"The summary to encapsulate is not a PDF (it begins with {pdf[:8]!r}); pass the bytes "
                         "of a PDF file.")  # fmt: skip
    sources = source_datasets(study, stack)
    first = sources[0]
    now = datetime.datetime.now()
    document = hd.SOPClass(
        study_instance_uid=first.StudyInstanceUID,
        series_instance_uid=hd.UID(),
        series_number=series_number,
        sop_instance_uid=hd.UID(),
        sop_class_uid=EncapsulatedPDFStorage,
        instance_number=1,
        modality="DOC",
        manufacturer=algorithm.manufacturer,
        transfer_syntax_uid=ExplicitVRLittleEndian,
        patient_id=first.get("PatientID"),
        patient_name=first.get("PatientName"),
        patient_birth_date=first.get("PatientBirthDate"),
        patient_sex=first.get("PatientSex"),
        accession_number=first.get("AccessionNumber"),
        study_id=first.get("StudyID"),
        study_date=first.get("StudyDate"),
        study_time=first.get("StudyTime"),
        referring_physician_name=first.get("ReferringPhysicianName"),
        series_description=series_description,
        manufacturer_model_name=algorithm.name,
        software_versions=algorithm.version,
        content_date=now.date(),
        content_time=now.time(),
        series_date=now.date(),
        series_time=now.time(),
        specific_character_set=first.get("SpecificCharacterSet"),
    )
    document.copy_patient_and_study_information(first)
    document.ConversionType = "WSD"
    document.AcquisitionDateTime = DT(now)
    document.BurnedInAnnotation = "YES"  # the page is free-form content that no de-identification tool inspects
    document.SourceInstanceSequence = [_reference(source) for source in sources]
    document.DocumentTitle = document_title
    document.ConceptNameCodeSequence = [hd.sr.CodedConcept.from_code(codes.LN.DiagnosticImagingReport)]
    document.VerificationFlag = "UNVERIFIED"
    document.MIMETypeOfEncapsulatedDocument = "application/pdf"
    document.EncapsulatedDocument = pdf
    document.EncapsulatedDocumentLength = len(pdf)
    add_algorithm_equipment(document, algorithm)
    logger.info("Encapsulated PDF of %d bytes joining the study of %s.", len(pdf), stack.label)
    return document
