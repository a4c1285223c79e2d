"""Advisory file locks that a crash releases, and removal of leftovers of killed runs.

Two sweeps on one result store, or two processes dequantising one offline model, must not do the
same work at the same time. :func:`file_lock` holds an exclusive ``fcntl.flock`` on a lock file:
the kernel releases it when the holder exits, however it exits, so a crash never leaves a lock
behind (the empty lock file stays; it is harmless). Where ``fcntl`` does not exist (Windows) the
lock is a no-op and this is logged once.

Example:
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "job.lock"
    >>> with file_lock(p) as waited:
    ...     waited
    False
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
_warned = False


@contextmanager
def file_lock(path: str | os.PathLike, *, poll_s: float = 0.2,
              on_wait: Callable[[], None] | None = None) -> Iterator[bool]:
    """Hold an exclusive lock on ``path`` (created if needed) for the ``with`` block; while another
    process (or thread) holds it, wait. Yields whether it had to wait, i.e. whether someone else
    may have done the work meanwhile (the caller should then check again before computing).

    ``on_wait`` is called once, when the lock is found taken (e.g. to log "waiting for ...").
    """
    global _warned
    if fcntl is None:  # pragma: no cover - Windows
        if not _warned:
            log.warning("file locks are not available on this platform: do not run two sweeps "
                        "on one result store at the same time")
            _warned = True
        yield False
        return
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
    waited = False
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited and on_wait is not None:
                    on_wait()
                waited = True
                time.sleep(poll_s)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield waited
    finally:
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def remove_leftovers(parent: str | os.PathLike, prefix: str, *, max_age_s: float = 3600.0) -> list[Path]:
    """Remove the files and directories in ``parent`` whose name starts with ``prefix`` and that
    were last modified more than ``max_age_s`` ago (the temporary output of a killed run; a
    younger one may belong to a run still going). Returns what was removed.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp()); (d / ".tmp-x").mkdir()
        >>> remove_leftovers(d, ".tmp-", max_age_s=0.0) == [d / ".tmp-x"]
        True
    """
    root = Path(parent)
    if not root.is_dir():
        return []
    now, removed = time.time(), []
    for p in root.iterdir():
        if not p.name.startswith(prefix):
            continue
        try:
            if now - p.stat().st_mtime < max_age_s:
                continue
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
            removed.append(p)
        except FileNotFoundError:
            continue  # removed meanwhile
    if removed:
        log.info("removed %d leftover(s) of killed runs in %s: %s", len(removed), root,
                 ", ".join(p.name for p in removed))
    return removed
