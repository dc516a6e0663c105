"""Logging configuration, called only by entry points (CLI, app), never by library modules."""

import logging
import sys
import warnings

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class _StderrHandler(logging.StreamHandler):
    """A stream handler that writes to whatever ``sys.stderr`` is when a record is emitted, not to the stream
    that was stderr when logging was configured (which a caller that swaps stderr, pytest's capture for one,
    may have closed since)."""

    @property
    def stream(self):  # noqa: D102
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure_logging(verbosity: int = 0) -> None:
    """Send log records to stderr.

    Parameters
    ----------
    verbosity:
        ``0``: INFO from ``hccp53``, warnings from other libraries; ``1`` (``-v``): INFO from
        every library; ``2`` and more (``-vv``): DEBUG from ``hccp53`` too. Deprecation and future
        warnings of other libraries (torch, MONAI) are shown from ``-v`` on only: they concern
        developers, not someone running a command.
    """
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter(_FORMAT, datefmt="%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING if verbosity == 0 else logging.INFO)
    logging.getLogger("hccp53").setLevel(logging.DEBUG if verbosity >= 2 else logging.INFO)
    # dicomweb-client retries a failed request and logs each try with a traceback: our error says it once.
    logging.getLogger("retrying").setLevel(logging.WARNING if verbosity >= 2 else logging.CRITICAL)
    if verbosity == 0:
        for category in (DeprecationWarning, FutureWarning):
            warnings.filterwarnings("ignore", category=category)
    logging.captureWarnings(True)
