"""Volumes on one grid: physical-space resampling, rigid registration, multiphase assembly.

- :mod:`hccp53.volumes.resample`: resample a volume or mask onto a reference grid through LPS space.
- :mod:`hccp53.volumes.register`: rigid (Mattes mutual information) registration of a phase onto the reference.
- :mod:`hccp53.volumes.transforms`: the identity and transform parameters in mm and degrees.
- :mod:`hccp53.volumes.multiphase`: all phases of a study on the reference phase's grid, saved with the transforms.
"""

from hccp53.volumes.multiphase import MultiphaseVolumes, build_multiphase
from hccp53.volumes.register import RegistrationReport, RegistrationSettings, dilate_mask, register_rigid
from hccp53.volumes.resample import check_image_geometry, resample_mask, resample_to_reference
from hccp53.volumes.transforms import identity_transform, transform_parameters

__all__ = [
    "MultiphaseVolumes",
    "RegistrationReport",
    "RegistrationSettings",
    "build_multiphase",
    "check_image_geometry",
    "dilate_mask",
    "identity_transform",
    "register_rigid",
    "resample_mask",
    "resample_to_reference",
    "transform_parameters",
]
