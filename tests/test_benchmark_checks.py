"""benchmarks/run.py fails a benchmark whose answers differ from its peer's."""

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture
def run_module(monkeypatch, tmp_path):
    spec = importlib.util.spec_from_file_location("bench_run_under_test", BENCH / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "HERE", tmp_path)
    monkeypatch.setattr(module, "RESULTS", tmp_path / "results" / "latest.json")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield module
    for name in ("bench_right", "bench_wrong"):
        sys.modules.pop(name, None)


def _bench(tmp_path, name, result):
    (tmp_path / f"bench_{name}.py").write_text(f"def main():\n    return {result!r}\n")


def test_wrong_answers_found_at_any_depth(run_module):
    result = {"case_a": {"same_answers": True, "ratio": 3.0},
              "case_b": {"same_answers": False}, "same_answers": True}
    assert run_module.wrong_answers(result) == ["case_b.same_answers"]
    assert run_module.wrong_answers({"ratio": 2.0}) == []


def test_run_exits_non_zero_when_answers_differ(run_module, tmp_path, capsys):
    _bench(tmp_path, "right", {"x": {"same_answers": True}})
    assert run_module.main(["right"])["benchmarks"]["right"]["status"] == "ok"
    _bench(tmp_path, "wrong", {"x": {"same_answers": False, "ratio": 50.0}})
    with pytest.raises(SystemExit) as exc:
        run_module.main(["right", "wrong"])
    assert "wrong" in str(exc.value.code) and "wrong_answers" in str(exc.value.code)
    assert "WRONG ANSWERS (x.same_answers)" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["l2_path", "l1_path", "dropout", "bagging", "dropout_torch"])
def test_every_benchmark_with_a_peer_answer_reports_same_answers(name):
    assert '"same_answers"' in (BENCH / f"bench_{name}.py").read_text()


def test_dissimilar_accuracy_is_a_wrong_answer(run_module):
    result = {"row": {"similar_accuracy": False, "speedup": 5.0}}
    assert run_module.wrong_answers(result) == ["row.similar_accuracy"]


def test_skipped_benchmark_is_listed_not_failed(run_module, tmp_path, capsys):
    _bench(tmp_path, "right", {"x": {"same_answers": True}})
    (tmp_path / "bench_absent_peer.py").write_text(
        "def main():\n    return {'skipped': 'pip install torch==2.13.0 failed: no wheel'}\n")
    try:
        report = run_module.main(["right", "absent_peer"])
    finally:
        sys.modules.pop("bench_absent_peer", None)
    assert report["benchmarks"]["absent_peer"]["status"] == "skipped"
    assert "absent_peer: SKIPPED (pip install torch==2.13.0 failed: no wheel)" in (
        capsys.readouterr().out)


@pytest.fixture
def torch_bench(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    spec = importlib.util.spec_from_file_location("bench_dropout_torch_under_test",
                                                  BENCH / "bench_dropout_torch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_torch_row_skipped_when_torch_cannot_be_installed(torch_bench, monkeypatch, tmp_path):
    """A real venv and a real ``pip install`` of a torch release that does not exist
    (no index, so pip answers at once): the row is skipped with pip's reason."""
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    outcome = torch_bench.main(venv=tmp_path / "venv", torch_version="0.0.0")
    assert set(outcome) == {"skipped"}
    assert outcome["skipped"].startswith("pip install torch==0.0.0 failed: ")
    assert "torch==0.0.0" in outcome["skipped"].split("failed: ", 1)[1]
    assert (tmp_path / "venv" / "bin" / "python").exists()
