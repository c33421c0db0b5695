"""Files opened only when they are regular files, judged on the opened descriptor (gateway/regularfile.py).

Why: a FIFO opened the usual way waits for a writer for ever; a check of the path before the open leaves a moment
in which a FIFO can take the file's place. The audit import, the mapping and config reader and batch's folder
inputs open through one function.
"""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest

from gateway.batch.inputs import Inputs, Unreadable
from gateway.regularfile import NotRegular, open_regular


def test_a_regular_file_is_read_and_each_other_kind_is_named(tmp_path: Path) -> None:
    plain = tmp_path / "plain.xml"
    plain.write_bytes(b"<a/>")
    with open_regular(plain) as fh:
        assert fh.read() == b"<a/>"
    os.mkfifo(tmp_path / "fifo")
    listening = socket.socket(socket.AF_UNIX)
    listening.bind(str(tmp_path / "sock"))
    try:
        for path, kind in ((tmp_path / "fifo", "FIFO"), (tmp_path, "folder"), (Path("/dev/null"), "character device")):
            with pytest.raises(NotRegular) as caught:
                open_regular(path)
            assert caught.value.kind == kind and str(caught.value) == f"[Errno 22] a {kind}, not a regular file"
        with pytest.raises(OSError):  # a socket cannot be opened at all: the open's own error
            open_regular(tmp_path / "sock")
    finally:
        listening.close()
    with pytest.raises(FileNotFoundError):
        open_regular(tmp_path / "missing")


def test_a_batch_folder_input_swapped_for_a_fifo_after_its_check_is_refused_not_waited_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The folder's member was a regular file when it was looked at (its stat, scripted here) and is a FIFO when it
    is opened: refused by the descriptor's check, where a plain open would wait for a writer for ever."""
    fifo = tmp_path / "pipe.xml"
    os.mkfifo(fifo)
    looked = os.stat_result((stat.S_IFREG | 0o644, 0, 0, 1, 0, 0, 4, 0, 0, 0))
    real_stat = Path.stat
    monkeypatch.setattr(Path, "stat", lambda self, **kw: looked if self == fifo else real_stat(self, **kw))
    with pytest.raises(Unreadable, match=r"^not a regular file \(FIFO, socket or device\): refused$"):
        Inputs([tmp_path])._read_file(fifo)
