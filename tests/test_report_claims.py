"""Every example's documented "Run:" commands work as written (on a shrunk grid), and the
report they write states each claim with a number that an independent computation
from the Parquet files reproduces."""

import copy
import re
import shlex
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from regsim.claims import format_number
from regsim.cli import main as regsim_cli

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SPECS = sorted(EXAMPLES.glob("*.yaml"))


def shrink(spec: dict) -> dict:
    """The same spec on a small grid: 2 seeds, axes cut to their first and last values,
    short paths, small data, few epochs (every component and claim is kept)."""
    spec = copy.deepcopy(spec)
    spec["seeds"] = 2

    def walk(node):
        if isinstance(node, dict):
            for key, value in list(node.items()):
                if key in ("logspace", "linspace"):
                    node[key] = [value[0], value[1], min(value[2], 3)]
                elif key in ("n_epochs",) and isinstance(value, list):
                    # an epochs axis (zipped with lr, say): first and last, still distinct
                    node[key] = [min(value[0], 4), min(value[-1], 8)]
                elif key in ("n_epochs",):
                    node[key] = min(value, 4)
                elif key in ("n_train", "n_test") and isinstance(value, int):
                    node[key] = min(value, 200)
                elif key not in ("hidden", "h_diag") and isinstance(value, list) and len(value) > 2 \
                        and all(isinstance(v, (int, float)) for v in value):
                    node[key] = [value[0], value[-1]]
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec)
    return spec


def run_commands(path: Path) -> list[list[str]]:
    """The commands of the spec's ``# Run:`` comment, split at ``&&``."""
    line = next(l for l in path.read_text().splitlines() if l.startswith("# Run:"))
    return [shlex.split(cmd) for cmd in line.split("Run:", 1)[1].split("&&")]


def _table(run_dir: Path):
    tables = [pq.read_table(p) for p in sorted(run_dir.rglob("part-*.parquet"))]
    import pyarrow as pa

    return pa.concat_tables(tables, promote_options="default").to_pylist()


def _ok(rows, **equal):
    return [r for r in rows if r["status"] == "ok"
            and all(r.get(k) == v for k, v in equal.items())]


def _expected_numbers(rows) -> dict[tuple[str, str], list[float]]:
    """Independent: plain loops over the Parquet rows, per (topic, subject)."""
    out = {}
    by = {}
    for r in _ok(rows, penalty="l2"):
        if r.get("shrinkage_measured") is not None and r.get("shrinkage_theory") is not None:
            gap = max(abs(a - b) for a, b in zip(r["shrinkage_measured"], r["shrinkage_theory"])
                      if a is not None and b is not None and np.isfinite(a - b))
            by.setdefault(r["learner"], []).append(gap)
    for learner, gaps in by.items():
        out[("l2", learner)] = [max(gaps)]
    for r in _ok(rows, penalty="l1"):
        if r.get("problem.design") == "orthogonal" and r.get("w") is not None:
            key = ("l1", f"{r['problem']}, orthogonal design")
            gap = max(abs(a - b) for a, b in zip(r["w"], r["w_theory"]))
            out[key] = [max(out.get(key, [0.0])[0], gap)]
        elif r.get("theory_gap") is not None:
            key = ("l1", f"{r['problem']}, {r.get('problem.design')} design")
            out.setdefault(key + ("gaps",), []).append(r["theory_gap"])
    for key in [k for k in out if len(k) == 3]:
        gaps = out.pop(key)
        out[key[:2]] = [float(np.median(gaps)), max(gaps)]
    learners = {r["learner"] for r in _ok(rows, ensembler="bagging")}
    for learner in learners:
        bag = [r for r in _ok(rows, ensembler="bagging", learner=learner)
               if not (r["ensembler.k"] == 1 and r.get("ensembler.bootstrap") is False)]
        if len({r["inference"] for r in bag}) > 1:
            bag = [r for r in bag if r["inference"] == "arithmetic_mean"]
        ks = [r["ensembler.k"] for r in bag]
        lo, hi = min(ks), max(ks)
        first = [r["ensemble_error"] for r in bag if r["ensembler.k"] == lo]
        last = [r for r in bag if r["ensembler.k"] == hi]
        gap = max(abs(r["mean_ensemble_error"] - r["bagging_theory"]) for r in bag)
        out[("bagging", learner)] = [sum(first) / len(first),
                                     sum(r["ensemble_error"] for r in last) / len(last),
                                     sum(r["bagging_c_over_v"] for r in last) / len(last), gap]
    for learner in {r["learner"] for r in _ok(rows, ensembler="dropout")}:
        ws = [r for r in _ok(rows, ensembler="dropout", inference="weight_scaling",
                             learner=learner) if r.get("geom_max_abs_dp") is not None]
        adaptive = [r for r in _ok(rows, ensembler="dropout", learner=learner)
                    if r.get("dropout_l2_gap") is not None]
        if adaptive:
            longest = max(r.get("learner.n_epochs") or 0 for r in adaptive)
            last = [r for r in adaptive if (r.get("learner.n_epochs") or 0) == longest]
            out[("dropout", f"{learner}, adaptive L2")] = [
                float(np.median([r["dropout_l2_gap"] for r in last])),
                max(r["dropout_l2_gap"] for r in last),
                float(np.median([r["l2_equal_gap"] for r in last]))]
        noisy = [r for r in _ok(rows, learner=learner) if r.get("accuracy") is not None
                 and "learner.input_noise" in r]

        def strength_of(r, *which):
            v = [r.get("learner.input_noise") or 0.0, r.get("ensembler.drop_input") or 0.0,
                 r.get("ensembler.drop_hidden") or 0.0]
            return [x > 0 for x in v] == list(which)

        if any(strength_of(r, True, False, False) for r in noisy) and \
                any(strength_of(r, False, False, True) for r in noisy):
            def strength(r, sigma, d_in, d_hid):
                v = [r.get("learner.input_noise") or 0.0, r.get("ensembler.drop_input") or 0.0,
                     r.get("ensembler.drop_hidden") or 0.0]
                return v if [x > 0 for x in v] == [sigma, d_in, d_hid] else None

            def best(which):
                errors = {}
                for r in noisy:
                    v = strength(r, *which)
                    if v is not None:
                        errors.setdefault(max(v), []).append(1 - r["accuracy"])
                s = min(errors, key=lambda k: np.mean(errors[k]))
                e = np.array(errors[s])
                return [float(e.mean()), float(1.96 * e.std(ddof=1) / np.sqrt(len(e)))]

            base = np.array([1 - r["accuracy"] for r in noisy
                             if strength(r, False, False, False) is not None])
            out[("dropout", f"{learner}, hidden masking vs input noise")] = [
                *best((False, False, True)), *best((True, False, False)), float(base.mean())]
        if not ws:
            continue
        if learner == "softmax_regression":
            out[("dropout", learner)] = [max(r["geom_max_abs_dp"] for r in ws)]
        else:
            drops = sorted({r["ensembler.drop_hidden"] for r in ws})
            out[("dropout", learner)] = []
            for d in drops:  # the median and, over several seeds, the range beside it
                gaps = [r["geom_max_abs_dp"] for r in ws if r["ensembler.drop_hidden"] == d]
                out[("dropout", learner)] += [float(np.median(gaps))] + (
                    [min(gaps), max(gaps)] if len(gaps) > 1 else [])
    return out


@pytest.mark.parametrize("spec_path", SPECS, ids=[p.stem for p in SPECS])
def test_example_run_commands_and_report_claims(prefect_server, spec_path, tmp_path,
                                                monkeypatch, capsys):
    spec = shrink(yaml.safe_load(spec_path.read_text()))
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / spec_path.name).write_text(yaml.safe_dump(spec))
    # relative paths of the spec (csv problems) resolve as in the repository
    for data in (EXAMPLES.parent / "data").glob("*.csv"):
        (tmp_path / "data").mkdir(exist_ok=True)
        (tmp_path / "data" / data.name).write_bytes(data.read_bytes())
    monkeypatch.chdir(tmp_path)
    commands = run_commands(spec_path)
    assert commands[0][:2] == ["regsim", "sweep"]
    for argv in commands:
        assert argv[0] == "regsim"
        assert regsim_cli(argv[1:] + (["--no-progress"] if argv[1] == "sweep" else [])) == 0
    sweep_dir = tmp_path / "data" / "results" / spec["name"]
    report = sweep_dir / "_report" / "index.html"
    if not any(argv[1] == "report" for argv in commands):
        assert regsim_cli(["report", str(sweep_dir)]) == 0
    page = report.read_text()
    assert spec["name"] in page and "Provenance" in page and "flow run" in page

    expected = _expected_numbers(_table(sweep_dir))
    sentences = re.findall(r"<li>(.*?)</li>", page.split("What was measured")[1]
                           .split("Cells by status")[0])
    assert len(sentences) == len(expected), (sentences, expected)
    import html

    from regsim import open_results
    from regsim.claims import claims

    found = claims(open_results(sweep_dir))
    for claim in found:
        numbers = expected[(claim.topic, claim.subject.replace(" (diagonal H)", ""))]
        text = html.unescape(sentences[found.index(claim)])
        assert text == claim.text
        for value in numbers:
            assert format_number(value) in text, (value, text)
    # the seed's order: L2, L1, bagging, dropout
    order = ["l2", "l1", "bagging", "dropout"]
    topics = [c.topic for c in found]
    assert topics == sorted(topics, key=order.index)
