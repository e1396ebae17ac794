"""Which process a run belongs to, and whether that process is still alive.

Every run records the host, the process id and (on Linux) the process's start time as tags when it is opened or
reopened. A run left ``RUNNING`` by a process that no longer exists (SIGKILL, the OOM killer, a lost node) can then
be told from one that is still working: ``platform show`` says which, and resuming its parent marks it ``KILLED``.
The start time guards against a recycled process id.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

TAG_HOST = "reflectlab.host"
TAG_PID = "reflectlab.pid"
TAG_PID_START = "reflectlab.pid_start"  # the process's start time in clock ticks after boot (Linux only)


def _stat(pid: int) -> tuple[str, str] | None:
    """The state (field 3) and start time (field 22) of ``/proc/<pid>/stat``, or None where there is none."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[-1].split()  # the command name may hold spaces and parentheses
    return (fields[0], fields[19]) if len(fields) > 19 else None


def _start_ticks(pid: int) -> str | None:
    stat = _stat(pid)
    return None if stat is None else stat[1]


def process_tags() -> dict[str, str]:
    """Tags that name this process: host, pid and, where known, its start time."""
    tags = {TAG_HOST: socket.gethostname(), TAG_PID: str(os.getpid())}
    start = _start_ticks(os.getpid())
    if start is not None:
        tags[TAG_PID_START] = start
    return tags


def process_alive(tags: Mapping[str, str]) -> bool | None:
    """Whether the process a run's ``tags`` name is still alive: True, False, or None when it cannot be told
    (no process tags, or another host)."""
    host, pid_text = tags.get(TAG_HOST), tags.get(TAG_PID)
    if not host or not pid_text or not pid_text.isdigit():
        return None
    if host != socket.gethostname():
        return None
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    except OSError:
        return None
    if not os.path.isdir("/proc/self"):
        return True  # no /proc (macOS): the id exists, which is all that can be told
    stat = _stat(pid)
    if stat is None or stat[0] in ("Z", "X"):
        return False  # gone between the two looks, or dead and not yet reaped by its parent
    recorded = tags.get(TAG_PID_START)
    return not (recorded and recorded != stat[1])  # a different start time: the id was given to another process


def describe_process(tags: Mapping[str, str]) -> str:
    """``pid 123 on host`` for a run's tags, or an empty string when it has none."""
    host, pid = tags.get(TAG_HOST), tags.get(TAG_PID)
    return f"pid {pid} on {host}" if host and pid else ""
