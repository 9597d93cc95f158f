"""Property-based fuzzing of ``regsim validate`` (Hypothesis).

Each example spec in ``examples/`` is mutated: keys dropped, values swapped for
odd types (null, bools, huge and negative integers, nan/inf, strings that
YAML 1.1 reads as numbers, bytes, dates, deep nesting, axis mappings with
odd contents), alias bombs spliced in, raw bytes inserted or the file cut
short. Whatever the file, ``regsim validate`` exits 0 or 2, never prints a
traceback, prints one line on error, and takes under 5 s and 200 MB.
"""

import contextlib
import copy
import io
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import regsim
from regsim.cli import main

EXAMPLES = {p.stem: yaml.safe_load(p.read_text())
            for p in sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.yaml"))}
SECONDS, PEAK_BYTES = 5.0, 200e6


def _deep(levels: int, mapping: bool) -> object:
    value: object = 1
    for _ in range(levels):
        value = {"a": value} if mapping else [value]
    return value


def _bomb(levels: int) -> str:
    """YAML lines defining anchors l0..l{levels}, each a list of nine aliases of the previous."""
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


ODD = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([2**63, 2**64 + 1, 10**30, -1, 0, 1, 10**9, 10**7]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["1e9", "-.inf", ".nan", "1e400", "", "x" * 300, "é", "l2", "none"]),
    st.text(max_size=20),
    st.binary(max_size=20),
    st.dates(),
    st.lists(st.one_of(st.integers(-3, 3), st.floats(allow_nan=True)), max_size=4),
    st.dictionaries(st.sampled_from(["logspace", "linspace", "plugin", "mean"]),
                    st.one_of(st.lists(st.one_of(st.floats(allow_nan=True),
                                                 st.integers(-(2**65), 2**65)), max_size=4),
                              st.text(max_size=5)), max_size=2),
    st.builds(_deep, st.integers(1, 120), st.booleans()),
)


def _containers(node, path=()):
    """Every (path, container) pair in a nested spec, the root included."""
    yield path, node
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(
        node, list) else ()
    for key, child in items:
        if isinstance(child, (dict, list)):
            yield from _containers(child, path + (key,))


@st.composite
def mutated_specs(draw) -> bytes:
    spec = copy.deepcopy(EXAMPLES[draw(st.sampled_from(sorted(EXAMPLES)))])
    for _ in range(draw(st.integers(1, 3))):
        containers = list(_containers(spec))
        _, node = draw(st.sampled_from(containers))
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        action = draw(st.sampled_from(["drop", "replace", "replace", "add"]))
        if action == "drop" and keys:
            del node[draw(st.sampled_from(keys))]
        elif action == "replace" and keys:
            node[draw(st.sampled_from(keys))] = draw(ODD)
        elif isinstance(node, dict):
            node[draw(st.sampled_from(["seeds", "zip", "metrics", "k", "alpha", "hidden", "x"]))] = \
                draw(ODD)
        else:
            node.append(draw(ODD))
    try:
        text = yaml.safe_dump(spec, sort_keys=False).encode()
    except (yaml.YAMLError, RecursionError):
        text = repr(spec).encode()
    raw = draw(st.sampled_from(["none", "none", "bomb", "bomb_value", "bytes", "cut"]))
    if raw == "bomb":
        text += _bomb(draw(st.integers(1, 9))).encode()
    elif raw == "bomb_value":  # an aliased value echoed in an error message
        levels = draw(st.integers(1, 5))
        text += _bomb(levels).encode() + f"seeds: *l{levels}\n".encode()
    elif raw == "bytes":
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.binary(min_size=1, max_size=8)) + text[at:]
    elif raw == "cut":
        text = text[: draw(st.integers(0, len(text)))]
    return text


def _validate_in_process(path: Path):
    """(exit code, stderr, seconds untraced, peak bytes of a second run under tracemalloc)."""
    def run():
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(["validate", str(path)])
            except SystemExit as exc:
                code = exc.code
        return code, err.getvalue()

    start = time.perf_counter()
    code, err = run()
    seconds = time.perf_counter() - start
    tracemalloc.start()
    try:
        run()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return code, err, seconds, peak


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated_specs())
def test_validate_survives_mutated_example_specs(content):
    regsim.get_registry()  # loaded once, outside the measurement
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzzed.yaml"
        path.write_bytes(content)
        code, err, seconds, peak = _validate_in_process(path)
    assert code in (0, 2), (code, err)
    assert "Traceback" not in err, err
    if code == 2:
        assert err.startswith("regsim: ") and err.count("\n") == 1 and len(err) < 1000, err
    assert seconds < SECONDS, seconds
    assert peak < PEAK_BYTES, peak


@pytest.mark.parametrize("label, content", [
    ("billion-laughs", ("name: laughs\n" + _bomb(9) + "problem: *l9\n").encode()),
    ("billion-cells", b"name: big\nseeds: 100000\nproblem: {plugin: linear_regression, "
                      b"noise: {linspace: [0.1, 1, 100]}}\nlearner: {plugin: least_squares}\n"
                      b"penalty: {plugin: l2, alpha: {logspace: [-3, 3, 100]}}\n"),
])
def test_validate_as_a_process_is_bounded(tmp_path, label, content):
    """The real command in its own process: exit 2, one line; its peak resident set (VmHWM,
    which unlike the rusage of a forked child does not count the parent) under 200 MB."""
    if not Path("/proc/self/status").exists():
        pytest.skip("reads VmHWM from /proc")
    path = tmp_path / f"{label}.yaml"
    path.write_bytes(content)
    status = tmp_path / "status"
    child = ("import atexit, sys\n"
             "atexit.register(lambda: open(sys.argv[1], 'w').write(open('/proc/self/status').read()))\n"
             "from regsim.cli import main\n"
             "sys.exit(main(sys.argv[2:]))\n")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", child, str(status), "validate", str(path)],
                          capture_output=True, text=True, timeout=120)
    seconds = time.perf_counter() - start
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    hwm_kb = next(int(line.split()[1]) for line in status.read_text().splitlines()
                  if line.startswith("VmHWM:"))
    assert hwm_kb * 1024 < PEAK_BYTES, hwm_kb  # the interpreter and plugins included
    assert seconds < 30  # mostly interpreter and plugin start-up on a shared machine
