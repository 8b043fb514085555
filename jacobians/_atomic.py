"""Atomic file writes: a file either appears complete or not at all.

The data go to a temporary file in the target's directory (same file
system, so the final :func:`os.replace` is atomic); any exception — including
KeyboardInterrupt — removes the temporary file and leaves an existing target
untouched. While a file is being written in the main thread, SIGTERM raises
:class:`Terminated` (and SIGINT KeyboardInterrupt, Python's default), so a
terminated write removes its hidden ``.part`` file too.
"""
from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading

__all__ = ["Terminated", "atomic_open", "atomic_write_text"]


class Terminated(BaseException):
    """Raised by SIGTERM while :func:`atomic_open` writes (a BaseException, like KeyboardInterrupt)."""


def _raise_terminated(signum, frame):
    raise Terminated(f"signal {signum}")


@contextlib.contextmanager
def _signals_raise():
    """SIGTERM raises :class:`Terminated` and SIGINT KeyboardInterrupt for the duration (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {}
    for signum, handler in ((signal.SIGTERM, _raise_terminated), (signal.SIGINT, signal.default_int_handler)):
        try:
            saved[signum] = signal.signal(signum, handler)
        except (ValueError, OSError):  # pragma: no cover - not settable here
            pass
    try:
        yield
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def atomic_open(path, mode: str = "wb"):
    """Context manager yielding a file object; on success it replaces ``path``.

    ``mode`` is ``"wb"`` or ``"w"`` (text, UTF-8).
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode: must be 'wb' or 'w' (got {mode!r})")
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"--out: directory {directory!r} does not exist")
    with _signals_raise():
        fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".part")
        yield from _write(fd, tmp, path, mode)


def _write(fd, tmp, path, mode):
    try:
        kwargs = {"encoding": "utf-8", "newline": ""} if mode == "w" else {}
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_open(path, "w") as handle:
        handle.write(text)
