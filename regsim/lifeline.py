"""Processes a sweep starts die with it, even when it is killed with ``kill -9``.

A killed sweep cannot clean up, so the processes it started watch it instead:
process-pool workers run :func:`exit_with_owner` (a daemon thread that ends
the worker once the sweep's process is gone), and a process that cannot run
our code (the temporary Prefect server) gets a small guard process from
:func:`guard` that kills it when the sweep goes. Linux and macOS; elsewhere
the watch is a no-op.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

__all__ = ["exit_with_owner", "guard", "alive"]

POLL_S = 0.2
_watching: set[int] = set()
_lock = threading.Lock()


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, killed but not yet reaped, counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def _owner_gone(owner_pid: int, parent_at_start: int) -> bool:
    if parent_at_start == owner_pid:  # a direct child: re-parented once the owner dies
        return os.getppid() != owner_pid
    return not alive(owner_pid)


def exit_with_owner(owner_pid: int | None, owner_host: str | None = None) -> None:
    """End this process (``os._exit``) soon after process ``owner_pid`` is gone.

    Does nothing in the owner itself, when ``owner_pid`` is None, or on a host
    other than ``owner_host`` (a remote Dask worker: its pids are not ours);
    starts at most one watcher per process. A worker killed this way mid-chunk
    leaves only a hidden temporary file, which the next resume deletes.
    """
    if owner_pid is None or owner_pid == os.getpid():
        return
    if owner_host is not None and owner_host != socket.gethostname():
        return
    with _lock:
        if owner_pid in _watching:
            return
        _watching.add(owner_pid)
    parent = os.getppid()

    def watch() -> None:
        while not _owner_gone(owner_pid, parent):
            time.sleep(POLL_S)
        os._exit(70)

    threading.Thread(target=watch, name="regsim-lifeline", daemon=True).start()


def guard(child_pid: int) -> subprocess.Popen:
    """A guard process that kills ``child_pid`` if this process dies first.

    Stop it with ``terminate()`` when ``child_pid`` has been stopped normally.
    """
    return subprocess.Popen([sys.executable, "-c", _GUARD, str(os.getpid()), str(child_pid)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


_GUARD = """
import os, signal, sys, time
owner, child = int(sys.argv[1]), int(sys.argv[2])
def gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return False
signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
while not gone(owner):
    if gone(child):
        sys.exit(0)
    time.sleep(0.2)
for sig in (signal.SIGTERM, signal.SIGKILL):
    try:
        os.killpg(child, sig)
    except OSError:
        try:
            os.kill(child, sig)
        except OSError:
            pass
    time.sleep(2)
    if gone(child):
        break
"""
