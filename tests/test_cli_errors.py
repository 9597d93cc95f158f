"""Whatever a user can cause is one line naming the problem and what to do (issue 11 §4).

Real processes, real file systems: a result store that is a file, read-only
or full (small tmpfs mounts, so those tests run as root and skip otherwise),
a Prefect server that is down, plugins that call ``sys.exit`` at import or
inside a cell (thread and process runners), a metric with a malformed
declaration. Each asserts the exit code the README documents, a one-line
message on stderr and no traceback unless ``--debug`` asks for it.
"""

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
QUICK = textwrap.dedent("""\
    name: quick
    seeds: 2
    problem: {plugin: linear_regression, n_train: 40, n_test: 50, n_features: 4}
    learner: {plugin: least_squares}
    penalty: {plugin: l2, alpha: [0.1, 1.0, 10.0]}
    metrics: [test_mse, coefficients]
""")


def regsim(*args, cwd, env=None, timeout=240):
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "regsim.cli", *map(str, args)], cwd=cwd,
                          env=full_env, capture_output=True, text=True, timeout=timeout)


def _messages(stderr: str) -> list[str]:
    """The lines regsim itself printed (Prefect's own log lines carry a timestamp)."""
    return [line for line in stderr.splitlines() if line.startswith("regsim: ")]


def _spec(tmp_path, text=QUICK):
    path = tmp_path / "quick.yaml"
    path.write_text(text)
    return path


def test_out_that_is_a_file_is_one_line_exit_2(tmp_path):
    (tmp_path / "results").write_text("not a directory")
    out = regsim("sweep", _spec(tmp_path), "--out", "results", cwd=tmp_path)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert _messages(out.stderr)[-1] == ("regsim: --out: results is not a directory; give a "
                                         "directory for the result store")


def test_debug_shows_the_traceback(tmp_path):
    (tmp_path / "results").write_text("not a directory")
    out = regsim("--debug", "sweep", _spec(tmp_path), "--out", "results", cwd=tmp_path)
    assert out.returncode != 0 and "Traceback (most recent call last)" in out.stderr


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("command", ["sweep", "serve"])
def test_a_prefect_server_that_is_down_is_one_line_exit_2(tmp_path, command):
    url = f"http://127.0.0.1:{_closed_port()}/api"
    extra = ["--cron", "0 2 * * *"] if command == "serve" else []
    out = regsim(command, _spec(tmp_path), "--out", "res", *extra, cwd=tmp_path,
                 env={"PREFECT_API_URL": url})
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    [line] = [m for m in _messages(out.stderr) if "does not answer" in m]
    assert url in line and "prefect server start" in line and "unset PREFECT_API_URL" in line
    assert len(out.stderr.splitlines()) <= 3, out.stderr


def test_a_plugin_calling_sys_exit_at_import_is_reported_and_skipped(tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "exits_at_import.py").write_text("import sys\nsys.exit(3)\n")
    out = regsim("--plugins-dir", plugins, "validate", _spec(tmp_path), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "valid spec 'quick': 6 cells" in out.stdout
    assert ("regsim: warning: plugin exits_at_import skipped: local file "
            f"{plugins / 'exits_at_import.py'}: import failed: SystemExit: 3") in out.stderr
    listing = regsim("--plugins-dir", plugins, "plugins", cwd=tmp_path)
    assert listing.returncode == 0 and "exits_at_import  FAILED TO LOAD" in listing.stdout


BAD_DECLARATIONS = {
    "columns = {'x': float}": "columns['x'] must be one of 'float', 'int', 'str', 'bool', 'list', "
                              "got <class 'float'>",
    "params = {'k': 3}": "params['k'] must be a regsim.Param, got 3",
    "name = ''": "has no name",
    "params = {'rate': regsim.Param(float, default=1.2, lt=1)}":
        "params['rate'] default: must be < 1, got 1.2",
}


@pytest.mark.parametrize("declaration", BAD_DECLARATIONS)
def test_a_malformed_declaration_is_reported_when_plugins_load(tmp_path, declaration):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "badmetric.py").write_text(textwrap.dedent(f"""\
        import regsim
        from regsim import Metric

        class Bad(Metric):
            name = "bad_metric"
            columns = {{"x": "float"}}
            {declaration}
            def compute(self, ev):
                return {{"x": [1.0] * ev.m}}

        @regsim.hookimpl
        def register_metrics(register):
            register(Bad)
        """))
    listing = regsim("--plugins-dir", plugins, "plugins", cwd=tmp_path)
    assert listing.returncode == 0
    [line] = [x for x in listing.stdout.splitlines() if x.startswith("badmetric  FAILED TO LOAD")]
    assert BAD_DECLARATIONS[declaration] in line
    # the rest of regsim works; a spec naming the skipped metric is a spec error
    assert regsim("--plugins-dir", plugins, "validate", _spec(tmp_path), cwd=tmp_path).returncode == 0
    refused = regsim("--plugins-dir", plugins, "validate",
                     _spec(tmp_path, QUICK.replace("coefficients", "bad_metric")), cwd=tmp_path)
    assert refused.returncode == 2 and "bad_metric" in refused.stderr
    assert "Traceback" not in refused.stderr


EXITING_METRIC = textwrap.dedent("""\
    import sys

    import regsim
    from regsim import Metric

    class ExitMetric(Metric):
        '''Calls sys.exit for the largest penalty strength.'''
        name = "exit_metric"
        columns = {"x": "float"}

        def compute(self, ev):
            if max(ev.penalty.alpha) > 5:
                sys.exit(4)
            return {"x": [1.0] * ev.m}

    @regsim.hookimpl
    def register_metrics(register):
        register(ExitMetric)
    """)


@pytest.fixture
def in_process_cli(prefect_server, monkeypatch):
    """``regsim.cli.main`` in this process against the session's Prefect server; the plugin
    directories it adds (through the environment) are dropped again afterwards."""
    from regsim import get_registry
    from regsim.cli import main

    monkeypatch.delenv("REGSIM_PLUGINS_DIR", raising=False)
    yield main
    monkeypatch.undo()
    get_registry.cache_clear()


@pytest.mark.slow
@pytest.mark.parametrize("runner", ["threads", "processes"])
def test_sys_exit_inside_a_cell_is_that_cells_error(tmp_path, runner, in_process_cli, capsys,
                                                     monkeypatch):
    import pandas as pd

    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "exit_metric.py").write_text(EXITING_METRIC)
    spec = _spec(tmp_path, QUICK.replace("coefficients", "exit_metric"))
    monkeypatch.chdir(tmp_path)
    code = in_process_cli(["--plugins-dir", str(plugins), "sweep", str(spec), "--out", "res",
                           "--runner", runner, "--workers", "2", "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 1, printed
    assert "cells     6: 6 stored (ok 4, error 2" in printed
    df = pd.read_parquet(tmp_path / "res" / "quick")
    assert len(df) == 6 and df["cell_id"].is_unique
    errors = df[df["status"] == "error"]
    assert sorted(errors["penalty.alpha"]) == [10.0, 10.0]
    assert all(e.startswith("RuntimeError: plugin code called sys.exit(4)") for e in errors["error"])
    assert (df.loc[df["status"] == "ok", "x"] == 1.0).all()
    import json

    [manifest] = (tmp_path / "res" / "quick").glob("*/_manifest.json")
    assert json.loads(manifest.read_text())["status"] == "complete"


@pytest.fixture
def small_fs(tmp_path):
    """A 100 KiB tmpfs (root only), unmounted after the test."""
    mount = tmp_path / "fs"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=100k", "tmpfs", str(mount)],
                          capture_output=True)
    if made.returncode != 0:
        pytest.skip("needs root to mount a small tmpfs")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


DISK_FILLER = QUICK.replace("seeds: 2", "seeds: 6").replace(
    "[0.1, 1.0, 10.0]", "{logspace: [-2, 2, 12]}").replace("n_features: 4", "n_features: 30")


@pytest.mark.slow
def test_a_full_disk_then_a_read_only_store_are_one_line_each(tmp_path, small_fs):
    spec = _spec(tmp_path, DISK_FILLER)
    full = regsim("sweep", spec, "--out", small_fs, "--chunk-size", "12", "--no-progress",
                  cwd=tmp_path)
    assert full.returncode == 1, full.stderr
    assert "Traceback" not in full.stderr and "Traceback" not in full.stdout
    not_stored = [x for x in full.stdout.splitlines() if x.startswith("not stored ")]
    assert not_stored and all("No space left on device (rerun to retry)" in x for x in not_stored)
    import pandas as pd

    df = pd.read_parquet(small_fs / "quick")
    assert 0 < len(df) < 72 and df["cell_id"].is_unique
    assert f"cells     72: {len(df)} stored (ok {len(df)}" in full.stdout
    assert f"{72 - len(df)} not stored" in full.stdout

    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    again = regsim("sweep", spec, "--out", small_fs, "--no-progress", cwd=tmp_path)
    assert again.returncode == 2
    assert "Traceback" not in again.stderr
    assert _messages(again.stderr)[-1] == (
        f"regsim: cannot write results under {small_fs / 'quick'}: Read-only file system; "
        f"choose a writable --out (or fix the directory's permissions)")
    shown = regsim("show", small_fs / "quick", cwd=tmp_path)
    assert shown.returncode == 0 and f"{len(df)} rows" in shown.stdout
