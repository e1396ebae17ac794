"""Writes that cannot be half-done.

A file or a folder is written under a temporary name beside its target and renamed onto it, so a crash (SIGKILL,
a lost machine, a full disk) leaves the old content or the new one, never a truncated artifact that a later reader
trusts. A full disk (``ENOSPC``, ``EDQUOT``) becomes :class:`DiskFull`, a one-line error.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from reflectlab.core.errors import UserError

_FULL = (errno.ENOSPC, errno.EDQUOT)


class DiskFull(UserError):
    """A write failed because the disk (or the user's quota) is full; nothing half-written was left behind."""


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it was raised from) is an ``OSError`` saying the disk or the quota is full."""
    current: BaseException | None = exc
    while current is not None:
        if isinstance(current, OSError) and current.errno in _FULL:
            return True
        current = current.__cause__ or current.__context__
    return False


def disk_full(path: str | Path, exc: OSError) -> DiskFull:
    """The one-line error for a write to ``path`` that failed with a full disk."""
    return DiskFull(f"disk full while writing {path} ({exc.strerror or exc})")


def stopped_by_full_disk(exc: BaseException, resume_hint: str) -> DiskFull:
    """The one line a run stopped by a full disk ends with: what failed, and the command that continues it."""
    what = str(exc) if isinstance(exc, DiskFull) else f"disk full ({getattr(exc, 'strerror', None) or exc})"
    return DiskFull(f"{what}; the finished studies are kept; free some space, then continue with: {resume_hint}")


def _temp_beside(path: Path) -> Path:
    """A new empty file beside ``path`` (created with the usual permissions, unlike ``mkstemp``'s 0600)."""
    while True:
        tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.partial")
        try:
            tmp.open("xb").close()
            return tmp
        except FileExistsError:
            continue


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename it onto ``path``."""
    path = Path(path)
    tmp: Path | None = None
    try:
        tmp = _temp_beside(path)
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full(path, exc) from exc
        raise
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` so that a reader sees the old file or the whole new one, never a part."""
    atomic_write_bytes(path, text.encode(encoding))


def atomic_copy(src: str | Path, dst: str | Path) -> None:
    """Copy the file ``src`` to ``dst`` through a temporary file beside ``dst``, renamed at the end."""
    dst = Path(dst)
    tmp: Path | None = None
    try:
        tmp = _temp_beside(dst)
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
        tmp = None
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full(dst, exc) from exc
        raise
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """A folder to fill under a temporary name (``<path>.partial``); renamed onto ``path`` when the block ends
    without an exception, removed when it raises. A folder already at ``path`` is replaced."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        partial.mkdir(parents=True)
        yield partial
        if path.exists():
            old = path.with_name(f"{path.name}.old-{os.getpid()}")
            path.rename(old)
            partial.rename(path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            partial.rename(path)
    except OSError as exc:
        shutil.rmtree(partial, ignore_errors=True)
        if is_disk_full(exc):
            raise disk_full(path, exc) from exc
        raise
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
