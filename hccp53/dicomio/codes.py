"""The coded concepts of hccp53's DICOM SR, SEG and encapsulated PDF, in one place.

Every standard code below is a member of the context group (CID) that the standard names for the place where
we use it; each was checked against the CID tables of DICOM PS3.16 as pydicom 3.0 ships them
(``pydicom.sr._cid_dict``, generated from the standard) and, where PixelMed's validator carries the group
(``DicomContextGroupsSource.xml`` of pixelmed-apps 20220618), against PixelMed's copy too:

==============================  =====================================  ==========================================
Use                             Code                                   Context group (PS3.16)
==============================  =====================================  ==========================================
SR procedure reported           (126020, DCM, "Multiparametric MRI")   BCID 100 Quantitative Diagnostic Imaging
(TID 1500 row 4)                                                       Procedures (pydicom and PixelMed)
SEG segmented property          (49755003, SCT, "Morphologically       CID 7150 Segmentation Property Categories
category                        Abnormal Structure")                   (pydicom)
SEG segmented property type,    (372087000, SCT, "Neoplasm, Primary")  CID 7194 Morphologically Abnormal
SR finding (TID 1411 row 3b)                                           Structure Segmentation Property Types,
                                                                       the types of that category (also in CID 7159
                                                                       Lesion Segmentation Types and CID 7151
                                                                       Segmentation Property Types) (pydicom)
SEG anatomic region, SR         (10200004, SCT, "Liver")               CID 4 Anatomic Region and CID 7151 (pydicom)
finding site (TID 1419 row 2)
SR volume (TID 1419 row 5)      (118565006, SCT, "Volume")             CID 7472 Volume Measurements, in CID 7469
                                                                       (pydicom and PixelMed)
... its unit                    (cm3, UCUM, "cubic centimeter")        CID 7462 Units of Volume Measurement
                                                                       (pydicom and PixelMed); 1 cm3 = 1 mL
SR longest diameter             (81827009, SCT, "Diameter")            CID 7470 Linear Measurements, in CID 7469
                                                                       (pydicom and PixelMed)
SR area of the key-slice        (42798000, SCT, "Area")                CID 7469 Generic Intensity and Size
outline (TID 1410 / 1419)                                              Measurements (pydicom)
... its unit                    (mm2, UCUM, "square millimeter")       CID 7461 Units of Area Measurement (pydicom)
SR probability / threshold      (1, UCUM, "no units")                  CID 7181 Abstract Multi-dimensional Image
unit                                                                   Model Component Units (pydicom)
SEG algorithm family            (123110, DCM, "Artificial              CID 7162 Surface Processing Algorithm
                                Intelligence")                         Families (pydicom)
Contributing Equipment purpose  (1630, 99IHE, "Processing Algorithm")  IHE Radiology AI Results (AIR) supplement,
                                                                       section 6.5.3.1 Algorithm Identification
==============================  =====================================  ==========================================

Hepatocellular carcinoma itself (SCT 25370001) is in none of these groups, so the tumor is coded as the
primary malignant neoplasm it is (SNOMED CT 372087000 is "Primary malignant neoplasm") in the liver; the
words "HCC lesion" stay in the segment label and tracking identifier.

The P53 prediction has no standard code: LOINC 21739-8 ("TP53 gene mutations found in Blood or Tissue by
Molecular genetics method") names a laboratory test result, not an image-based estimate, so using it
would misstate the method. The prediction concepts are therefore private, under the coding scheme
``99HCCP53`` that the SR declares in (0008,0110) *Coding Scheme Identification Sequence*
(PS3.16 section 8: private designators begin with "99"); ``99IHE`` is declared there too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from highdicom.sr import CodedConcept
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

PRIVATE_SCHEME = "99HCCP53"
PRIVATE_SCHEME_NAME = "hccp53 research codes"
IHE_SCHEME = "99IHE"


def _concept(code: object) -> CodedConcept:
    return CodedConcept.from_code(code)  # type: ignore[arg-type]


LIVER = _concept(codes.SCT.Liver)
TUMOR_CATEGORY = _concept(codes.SCT.MorphologicallyAbnormalStructure)
#: What each segment and measurement group is: an HCC is a primary malignant neoplasm (see the table above).
TUMOR_TYPE = _concept(codes.SCT.NeoplasmPrimary)
PROCEDURE = _concept(codes.DCM.MultiparametricMRI)
VOLUME = _concept(codes.SCT.Volume)
#: The longest diameter: SCT "Diameter" (81827009) measured as the largest distance across the lesion.
DIAMETER = _concept(codes.SCT.Diameter)
CUBIC_CENTIMETRE = _concept(codes.UCUM.CubicCentimeter)
MILLIMETRE = CodedConcept("mm", "UCUM", "millimeter")
#: The area of the primary lesion's outline on its key slice (TID 1410 group).
AREA = _concept(codes.SCT.Area)
SQUARE_MILLIMETRE = _concept(codes.UCUM.SquareMillimeter)
NO_UNITS = _concept(codes.UCUM.NoUnits)
#: (0040,A170) *Purpose of Reference* of the algorithm's Contributing Equipment item (IHE AIR 6.5.3.1).
PROCESSING_ALGORITHM = CodedConcept("1630", IHE_SCHEME, "Processing Algorithm")

P53_PROBABILITY = CodedConcept("P53PROB", PRIVATE_SCHEME, "Probability of TP53 mutation")
P53_STATUS = CodedConcept("P53STAT", PRIVATE_SCHEME, "Predicted TP53 mutation status")
P53_MUTATED = CodedConcept("P53MUT", PRIVATE_SCHEME, "TP53 mutated")
P53_WILD_TYPE = CodedConcept("P53WT", PRIVATE_SCHEME, "TP53 wild-type")
THRESHOLD = CodedConcept("P53THR", PRIVATE_SCHEME, "Decision threshold of TP53 mutation probability")
NO_LESION = CodedConcept("NOLESION", PRIVATE_SCHEME, "No liver tumor found")
LESION_PRESENCE = CodedConcept("LESIONS", PRIVATE_SCHEME, "Liver tumor detection")
#: The segmentation network's mean tumor probability over the lesion (hccp53.inference.Lesion.confidence).
SEGMENTATION_CONFIDENCE = CodedConcept("SEGCONF", PRIVATE_SCHEME, "Mean tumor probability of the segmentation")

STATUS_CODES = {"mutated": P53_MUTATED, "wild-type": P53_WILD_TYPE}


def coding_schemes(*designators: str) -> list[Dataset]:
    """Items of (0008,0110) *Coding Scheme Identification Sequence* for the non-standard schemes we use."""
    described = {
        PRIVATE_SCHEME: (PRIVATE_SCHEME_NAME, "hccp53 project"),
        IHE_SCHEME: ("IHE codes", "IHE International"),
    }
    items = []
    for designator in designators:
        name, organization = described[designator]
        item = Dataset()
        item.CodingSchemeDesignator = designator
        item.CodingSchemeName = name
        item.CodingSchemeResponsibleOrganization = organization
        items.append(item)
    return items


@dataclass(frozen=True)
class AlgorithmInfo:
    """What made the result (TID 4019 Algorithm Identification; SEG Algorithm Identification Sequence;
    the Contributing Equipment item of IHE AIR).

    Attributes
    ----------
    name, version:
        The algorithm (e.g. "hccp53 P53 classifier", the package version).
    parameters:
        Shown as TID 4019 parameters, e.g. phases used, threshold, device, model sha256.
    manufacturer:
        Written as the manufacturer of the new series and of the contributing equipment.
    device_uid:
        The model's UID (:attr:`hccp53.model.ModelRecord.uid`, derived from the weights' sha256: new whenever
        the networks are retrained), written as (0018,1002) *Device UID* of the contributing equipment and as
        the SR's device observer UID. None only for results not made by a trained-model folder.
    """

    name: str
    version: str
    parameters: Mapping[str, str] = field(default_factory=dict)
    manufacturer: str = "hccp53"
    family: CodedConcept = field(default_factory=lambda: _concept(codes.DCM.ArtificialIntelligence))
    device_uid: str | None = None
