"""Worker processes end with the process that started them, even after its ``kill -9``.

A conversion worker whose parent is gone has nobody to answer to, holds memory, and keeps the
multiprocessing resource tracker alive with it. On Linux the kernel signals the worker the moment its
parent dies (``PR_SET_PDEATHSIG``); everywhere a daemon thread also checks the parent twice a second.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1


def end_with_parent(parent: int, poll: float = 0.5) -> None:
    """Call in the worker (e.g. as pool initializer) with the parent's pid, read in the parent."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # gone before the request above was made
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
