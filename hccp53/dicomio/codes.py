"""The coded concepts of hccp53's DICOM SR and SEG, in one place.

Standard codes (SNOMED CT "SCT", DICOM "DCM", UCUM, LOINC) where one means what we say. The P53
prediction has no standard code: LOINC 21739-8 ("TP53 gene mutations found in Blood or Tissue by
Molecular genetics method") names a laboratory test result, not an image-based estimate, so using it
would misstate the method. The prediction concepts are therefore private, under the coding scheme
``99HCCP53`` that the SR declares in (0008,0110) *Coding Scheme Identification Sequence*
(PS3.16 section 8: private designators begin with "99").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from highdicom.sr import CodedConcept
from pydicom.sr.codedict import codes

PRIVATE_SCHEME = "99HCCP53"
PRIVATE_SCHEME_NAME = "hccp53 research codes"

HCC = CodedConcept("25370001", "SCT", "Hepatocellular carcinoma")
LIVER = CodedConcept("10200004", "SCT", "Liver")
TUMOR_CATEGORY = CodedConcept("49755003", "SCT", "Morphologically abnormal structure")
#: Procedure reported: the generic "Imaging procedure" (pydicom's dictionary has no MRI-of-abdomen code we
#: could verify here; a wrong specific code would be worse than a correct generic one).
PROCEDURE = CodedConcept(codes.SCT.ImagingProcedure.value, "SCT", codes.SCT.ImagingProcedure.meaning)
VOLUME = CodedConcept(codes.SCT.Volume.value, "SCT", codes.SCT.Volume.meaning)
#: The longest diameter: SCT "Diameter" (81827009) measured as the largest distance across the lesion.
DIAMETER = CodedConcept("81827009", "SCT", "Diameter")
MILLILITRE = CodedConcept("ml", "UCUM", "milliliter")
MILLIMETRE = CodedConcept("mm", "UCUM", "millimeter")
NO_UNITS = CodedConcept("1", "UCUM", "no units")

P53_PROBABILITY = CodedConcept("P53PROB", PRIVATE_SCHEME, "Probability of TP53 mutation")
P53_STATUS = CodedConcept("P53STAT", PRIVATE_SCHEME, "Predicted TP53 mutation status")
P53_MUTATED = CodedConcept("P53MUT", PRIVATE_SCHEME, "TP53 mutated")
P53_WILD_TYPE = CodedConcept("P53WT", PRIVATE_SCHEME, "TP53 wild-type")
THRESHOLD = CodedConcept("P53THR", PRIVATE_SCHEME, "Decision threshold of TP53 mutation probability")
NO_LESION = CodedConcept("NOLESION", PRIVATE_SCHEME, "No liver tumor found")
LESION_PRESENCE = CodedConcept("LESIONS", PRIVATE_SCHEME, "Liver tumor detection")

STATUS_CODES = {"mutated": P53_MUTATED, "wild-type": P53_WILD_TYPE}


@dataclass(frozen=True)
class AlgorithmInfo:
    """What made the result (TID 4019 Algorithm Identification; SEG Algorithm Identification Sequence).

    Attributes
    ----------
    name, version:
        The algorithm (e.g. "hccp53 P53 classifier", the package version).
    parameters:
        Shown as TID 4019 parameters, e.g. phases used, threshold, device, model sha256.
    manufacturer:
        Written as the manufacturer of the new series.
    """

    name: str
    version: str
    parameters: Mapping[str, str] = field(default_factory=dict)
    manufacturer: str = "hccp53"
    family: CodedConcept = field(default_factory=lambda: CodedConcept(*_AI))


_AI = ("123110", "DCM", "Artificial Intelligence")
