"""Start-up and exit of the ``regsim`` process (issue 15 §1): what the command imports,
and the garbage-collector settings only the command's own process gets."""

import gc
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("prefect", "pandas", "matplotlib", "sklearn", "scipy", "dask")


def test_the_regsim_command_is_console_main():
    (script,) = [ep for ep in entry_points(group="console_scripts") if ep.name == "regsim"]
    assert script.value == "regsim.cli:console_main"


def test_the_cli_and_the_plugins_load_without_heavy_imports():
    code = ("import sys, regsim.cli; from regsim import get_registry; get_registry(); "
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    assert out.strip() == "[]"


def test_console_main_holds_the_collector_through_start_up_then_freezes_at_exit():
    code = ("import gc, sys; from regsim import cli; "
            "sys.argv = ['regsim', 'validate', 'examples/quickstart.yaml']; "
            "rc = cli.console_main(); "
            "print(rc, gc.isenabled(), gc.get_freeze_count() > 0, cli._GC_HELD)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    assert "valid spec 'quickstart'" in res.stdout
    assert res.stdout.strip().splitlines()[-1] == "0 True True False"


def test_main_called_in_process_leaves_the_collector_alone(capsys):
    from regsim.cli import main

    frozen = gc.get_freeze_count()
    assert main(["validate", str(ROOT / "examples" / "quickstart.yaml")]) == 0
    assert gc.isenabled() and gc.get_freeze_count() == frozen
    assert "valid spec" in capsys.readouterr().out
