"""Exception types whose message is one sentence a user can act on.

Entry points (the CLI, the app) catch :class:`HccP53Error`, print its message
and exit non-zero; anything else is a bug and keeps its traceback.
"""


class HccP53Error(Exception):
    """Base class: the message names what is wrong and what to do."""


class ConfigError(HccP53Error):
    """A configuration file or command-line value is invalid."""


class OutputError(HccP53Error):
    """An output location cannot be used (unwritable, not empty, ...)."""


class InputError(HccP53Error):
    """Input data (DICOM, NIfTI, datalist) is missing, corrupt or inconsistent."""
