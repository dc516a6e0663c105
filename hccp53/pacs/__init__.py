"""PACS integration: ``hccp53 serve`` (a DICOM Storage SCP that runs the app), ``pull`` and ``push`` (DICOMweb).

See ``docs/pacs.md``. Modules: :mod:`~hccp53.pacs.config` (settings), :mod:`~hccp53.pacs.spool` (durable
folders), :mod:`~hccp53.pacs.server` (the listener, scheduler and sender), :mod:`~hccp53.pacs.send`
(C-STORE and STOW-RS), :mod:`~hccp53.pacs.dicomweb` (pull and push).
"""
