"""The CLI's logging follows stderr: a record logged after the stderr it was configured with is gone still reaches
the current stderr (a test that runs a command in-process leaves pytest's closed capture stream behind)."""

import io
import logging
import sys
import warnings

from hccp53.logging_setup import configure_logging


def test_records_reach_the_current_stderr_after_the_old_one_is_closed(monkeypatch) -> None:
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))  # restored after the test
    monkeypatch.setattr(root, "level", root.level)
    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    with warnings.catch_warnings():  # configure_logging filters warnings for the process
        configure_logging()
    logging.captureWarnings(False)
    logging.getLogger("hccp53.test").info("to the first")
    first_text = first.getvalue()
    first.close()

    second = io.StringIO()
    monkeypatch.setattr(sys, "stderr", second)
    logging.raiseExceptions = True  # a write to a closed stream would print "--- Logging error ---" to stderr
    logging.getLogger("hccp53.test").info("to the second")

    assert "to the first" in first_text
    assert "to the second" in second.getvalue()
    assert "Logging error" not in second.getvalue()
