"""How an operator reports bad input: the library's one-sentence error is kept on the app, not raised.

Holoscan would log an exception raised in ``compute`` with its traceback and keep scheduling. An operator
decorated with :func:`reports_errors` instead records the :class:`~hccp53.errors.HccP53Error` on its
application (``app.errors``) and emits nothing, so that every downstream operator waits, the run ends,
no output is written, and ``app.py`` prints the sentence and exits non-zero.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any

from hccp53.errors import HccP53Error

logger = logging.getLogger(__name__)


def reports_errors(compute: Callable[..., None]) -> Callable[..., None]:
    """Wrap an operator's ``compute``: a library error is recorded on ``self.fragment.errors``, and the
    seconds it took on ``self.fragment.timings`` (``<operator name>_s``) when the app keeps them."""

    @functools.wraps(compute)
    def wrapper(self: Any, op_input: Any, op_output: Any, context: Any) -> None:
        start = time.perf_counter()
        try:
            compute(self, op_input, op_output, context)
            timings = getattr(self.fragment, "timings", None)
            if timings is not None:
                timings[f"{self.name}_s"] = time.perf_counter() - start
        except HccP53Error as error:
            errors = getattr(self.fragment, "errors", None)
            if errors is None:
                raise
            errors.append(error)
            logger.error("%s: %s", self.name, error)

    return wrapper
