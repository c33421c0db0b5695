"""Files opened for reading only when they are regular files, judged by the descriptor that was opened.

Why one place: a FIFO opened the usual way waits for a writer for ever and a device may never end, and a check of
the path before the open leaves a moment in which another file can take its place. Mapping files, audit files and
batch inputs are opened here alike: without waiting (``O_NONBLOCK``), then refused unless ``fstat`` of that very
descriptor says regular file.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

KINDS = ((stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "character device"),
         (stat.S_ISBLK, "block device"), (stat.S_ISDIR, "folder"))


class NotRegular(OSError):
    """The path was no regular file when opened; ``kind`` names what it was (FIFO, socket, ...)."""

    def __init__(self, kind: str) -> None:
        super().__init__(errno.EINVAL, f"a {kind}, not a regular file")
        self.kind = kind


def open_regular(path: Path | str) -> BinaryIO:
    """``path`` opened for reading (blocking again once judged), or :class:`NotRegular`; other failures of the open
    are the OSError it raised."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegular(next((name for test, name in KINDS if test(mode)), "special file"))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
