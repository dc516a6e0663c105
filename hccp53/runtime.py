"""Process settings the entry points make before starting Holoscan (the app, ``hccp53 serve``)."""

from __future__ import annotations

import resource
import threading

STACK_BYTES = 32 * 1024 * 1024  # Holoscan needs a deeper stack than the usual 8 MiB


def raise_stack_limit(threads: bool = False) -> None:
    """Raise the soft stack limit to 32 MiB (what ``ulimit -s 32768`` does).

    Parameters
    ----------
    threads
        Also give threads that Python starts from now on 32 MiB stacks (``hccp53 serve`` builds the
        SDK's PDF writer in its worker threads).
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
    if soft != resource.RLIM_INFINITY and soft < STACK_BYTES:
        target = STACK_BYTES if hard == resource.RLIM_INFINITY else min(STACK_BYTES, hard)
        resource.setrlimit(resource.RLIMIT_STACK, (target, hard))
    if threads:
        threading.stack_size(STACK_BYTES)
