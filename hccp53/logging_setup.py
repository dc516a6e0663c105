"""Logging configuration, called only by entry points (CLI, app), never by library modules."""

import logging
import sys

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def configure_logging(verbosity: int = 0) -> None:
    """Send log records to stderr.

    Parameters
    ----------
    verbosity:
        ``0`` shows warnings and the progress-relevant INFO lines of ``hccp53``,
        ``1`` all INFO, ``2`` and more DEBUG. Third-party libraries stay at WARNING.
    """
    level = logging.INFO if verbosity <= 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_FORMAT, datefmt="%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("hccp53").setLevel(level if verbosity > 0 else logging.INFO)
    logging.captureWarnings(True)
