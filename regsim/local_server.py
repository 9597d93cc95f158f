"""A reusable local Prefect server that ``regsim sweep`` finds and uses.

Starting Prefect's temporary server costs every ``regsim sweep`` several
seconds (more than a small sweep's cells) and its UI dies with the sweep.
``regsim server start`` runs ``prefect server start`` in the background on
127.0.0.1 and records it in a state file; while it is up and healthy, and
``PREFECT_API_URL`` is not set, sweeps report to it (flow runs, task runs and
artifacts stay browsable in its UI), and ``regsim serve`` can schedule on it.
``regsim server stop`` ends it; ``regsim server status`` says what runs.

State file: ``$REGSIM_STATE_DIR/server.json`` (default ``$PREFECT_HOME/regsim``,
``~/.prefect/regsim``) holding the server's pid, URL and log file. This module
imports nothing heavy (no Prefect): finding the server costs milliseconds.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = ["state_dir", "state_file", "status", "find_server", "start_server", "stop_server",
           "DEFAULT_PORT"]

#: The port ``regsim server start`` asks for first (Prefect's own default is 4200).
DEFAULT_PORT = 4200
STATE_DIR_ENV = "REGSIM_STATE_DIR"


def state_dir() -> Path:
    """Where the server's state file and log live (see the module docstring)."""
    if os.environ.get(STATE_DIR_ENV):
        return Path(os.environ[STATE_DIR_ENV]).expanduser()
    home = os.environ.get("PREFECT_HOME") or "~/.prefect"
    return Path(home).expanduser() / "regsim"


def state_file() -> Path:
    return state_dir() / "server.json"


def _healthy(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/health", timeout=timeout) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError, ValueError):
        return False


def _alive(pid: int) -> bool:
    from .lifeline import alive

    return alive(pid)


def status() -> dict[str, Any] | None:
    """The recorded server with ``running`` and ``healthy`` flags, or None when none is recorded."""
    try:
        state = json.loads(state_file().read_text())
        pid = int(state["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    running = state.get("host") in (None, socket.gethostname()) and _alive(pid)
    return {**state, "running": running, "healthy": running and _healthy(state["url"])}


def find_server() -> str | None:
    """The API URL of the recorded server if it runs and answers, else None."""
    state = status()
    return state["url"] if state and state["healthy"] else None


def _free_port(host: str, preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise OSError("no free port")


def start_server(port: int | None = None, host: str = "127.0.0.1",
                 timeout: float = 120.0) -> dict[str, Any]:
    """Start ``prefect server start`` in the background and wait until it answers.

    Returns the state (``pid``, ``url``, ``ui``, ``log``). If a recorded server is
    already healthy it is returned as it is (``"already": True``). The server
    outlives this process (own session); stop it with :func:`stop_server`.

    Raises
    ------
    RuntimeError
        The server did not answer within ``timeout`` seconds (the log's last
        line is in the message); it is stopped.
    """
    current = status()
    if current and current["healthy"]:
        return {**current, "already": True}
    if current and current["running"]:  # up but not answering: wait for it below
        state = current
    else:
        directory = state_dir()
        directory.mkdir(parents=True, exist_ok=True)
        port = _free_port(host, DEFAULT_PORT if port is None else port)
        log = directory / "server.log"
        env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED":
               os.environ.get("PREFECT_SERVER_ANALYTICS_ENABLED", "false")}
        env.pop("PREFECT_API_URL", None)
        with open(log, "ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "prefect", "server", "start", "--host", host,
                 "--port", str(port)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                start_new_session=True)
        state = {"pid": process.pid, "host": socket.gethostname(),
                 "url": f"http://{host}:{port}/api", "ui": f"http://{host}:{port}",
                 "log": str(log),
                 "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        tmp = state_file().with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        os.replace(tmp, state_file())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _healthy(state["url"]):
            return {**state, "running": True, "healthy": True}
        if not _alive(int(state["pid"])):
            break
        time.sleep(0.25)
    tail = _last_line(Path(state["log"]))
    stop_server()
    raise RuntimeError(f"the Prefect server did not answer at {state['url']} within "
                       f"{timeout:.0f} s" + (f"; its log ends: {tail}" if tail else "")
                       + f" (log: {state['log']})")


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1].strip()[:200] if lines else ""


def stop_server(timeout: float = 20.0) -> dict[str, Any] | None:
    """Stop the recorded server (its whole process group) and forget it; None if none."""
    state = status()
    if state is None:
        return None
    pid = int(state["pid"])
    if state["running"]:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(pid, sig)
            except OSError:
                try:
                    os.kill(pid, sig)
                except OSError:
                    pass
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.1)
            if not _alive(pid):
                break
    state_file().unlink(missing_ok=True)
    return state
