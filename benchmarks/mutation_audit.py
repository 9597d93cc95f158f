"""Targeted mutation audit: break the code on purpose and see whether the tests notice.

For each target module, every mutation point found in its AST becomes one
mutant: arithmetic and augmented-assignment operators swapped (``+``↔``-``,
``*``↔``/``, ``**``→``*``), comparisons loosened or flipped (``<``↔``<=``,
``>``↔``>=``, ``==``↔``!=``), unary minus removed, numeric constants changed
(``c`` → ``c + 1``), and names that are easy to confuse swapped (``argmax``↔
``argmin``, ``max``↔``min``, ``maximum``↔``minimum``, ``sum``↔``mean``,
``log``↔``log1p``, ``exp``↔``expm1``, ``True``↔``False``). Docstrings, strings
and annotations are left alone.

Each mutant is written into a private copy of the repository at ``--rev``
(``git archive``), imported there through ``PYTHONPATH`` with the
``package-dir`` mapping rebuilt as symlinks (``regsim/plugins`` → ``plugins/``), and the given tests run with ``pytest -x``. A mutant is
*killed* when the tests fail (or time out: 4× the unmutated run), *survived*
when they pass. The working tree is never touched.

Not a project dependency and not run by ``make test`` or ``make bench``;
mutmut and cosmic-ray assume the import path is the source path, which the
``package-dir`` mapping breaks. Example::

    python benchmarks/mutation_audit.py --rev HEAD \\
        --target plugins/norm_penalties/metrics.py --tests tests/test_metric_oracles.py
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

_BINOP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
          ast.Pow: ast.Mult, ast.FloorDiv: ast.Div, ast.Mod: ast.FloorDiv}
_CMP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
        ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is}
_NAMES = {"argmax": "argmin", "argmin": "argmax", "max": "min", "min": "max",
          "maximum": "minimum", "minimum": "maximum", "sum": "mean", "mean": "sum",
          "log": "log1p", "log1p": "log", "exp": "expm1", "expm1": "exp", "any": "all",
          "all": "any"}


@dataclass
class Mutant:
    file: str
    line: int
    kind: str
    detail: str
    source: str


def _docstring_ids(tree) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def _annotation_ids(tree) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        anns = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            anns.append(node.returns)
            a = node.args
            anns += [x.annotation for x in a.args + a.kwonlyargs + a.posonlyargs]
        elif isinstance(node, ast.AnnAssign):
            anns.append(node.annotation)
        for ann in anns:
            if ann is not None:
                out.update(id(n) for n in ast.walk(ann))
    return out


def _points(tree):
    """Yield ``(node_index, kind, detail, apply)``: one per mutation of ``tree``."""
    skip = _docstring_ids(tree) | _annotation_ids(tree)
    for idx, node in enumerate(ast.walk(tree)):
        if id(node) in skip:
            continue
        if isinstance(node, (ast.BinOp, ast.AugAssign)) and type(node.op) in _BINOP:
            new = _BINOP[type(node.op)]
            yield idx, "operator", f"{type(node.op).__name__}->{new.__name__}", \
                lambda n, new=new: setattr(n, "op", new())
        elif isinstance(node, ast.Compare):
            for k, op in enumerate(node.ops):
                if type(op) in _CMP:
                    new = _CMP[type(op)]

                    def apply(n, k=k, new=new):
                        n.ops[k] = new()
                    yield idx, "compare", f"{type(op).__name__}->{new.__name__}", apply
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            yield idx, "unary", "drop unary minus", None  # handled by the parent swap below
        elif isinstance(node, ast.Constant) and type(node.value) in (int, float):
            v = node.value
            yield idx, "constant", f"{v!r}->{v + 1!r}", \
                lambda n, v=v: setattr(n, "value", v + 1)
        elif isinstance(node, ast.Constant) and type(node.value) is bool:
            v = node.value
            yield idx, "constant", f"{v}->{not v}", lambda n, v=v: setattr(n, "value", not v)
        elif isinstance(node, ast.Attribute) and node.attr in _NAMES:
            new = _NAMES[node.attr]
            yield idx, "name", f".{node.attr}->.{new}", lambda n, new=new: setattr(n, "attr", new)
        elif isinstance(node, ast.Name) and node.id in ("max", "min", "sum", "any", "all"):
            new = _NAMES[node.id]
            yield idx, "name", f"{node.id}->{new}", lambda n, new=new: setattr(n, "id", new)


class _DropUnary(ast.NodeTransformer):
    def __init__(self, target_idx, order):
        self.target = order[target_idx]

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        return node.operand if node is self.target else node


def mutants(path: Path, rel: str) -> list[Mutant]:
    text = path.read_text()
    tree = ast.parse(text)
    out = []
    for idx, kind, detail, apply in list(_points(tree)):
        t = copy.deepcopy(tree)
        order = list(ast.walk(t))
        node = order[idx]
        if apply is None:
            t = _DropUnary(idx, order).visit(t)
        else:
            apply(node)
        try:
            src = ast.unparse(ast.fix_missing_locations(t))
            compile(src, rel, "exec")
        except Exception:  # noqa: BLE001 - an unparsable mutant is simply not a mutant
            continue
        out.append(Mutant(rel, getattr(node, "lineno", 0), kind, detail, src))
    return out


def export(rev: str | None, dest: Path) -> Path:
    """A copy of the repository at ``rev`` (working tree if None) and an importable package tree."""
    tree = dest / "tree"
    tree.mkdir(parents=True)
    if rev is None:
        files = subprocess.run(["git", "-C", str(REPO), "ls-files", "-co", "--exclude-standard"],
                               capture_output=True, text=True, check=True).stdout.split()
        for f in files:
            src = REPO / f
            if src.is_file():
                (tree / f).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, tree / f)
    else:
        archive = dest / "src.tar"
        subprocess.run(["git", "-C", str(REPO), "archive", "-o", str(archive), rev], check=True)
        with tarfile.open(archive) as tar:
            tar.extractall(tree, filter="data")
    # The package-dir mapping as a plain tree, so the copy imports from itself
    # ahead of any editable install of the real checkout.
    for sub in ("plugins", "flows"):
        (tree / "regsim" / sub).symlink_to(tree / sub, target_is_directory=True)
    return tree


def run_tests(tree: Path, tests: list[str], timeout: float | None) -> tuple[str, float]:
    env = dict(os.environ, PYTHONPATH=str(tree),
               PREFECT_SERVER_ANALYTICS_ENABLED="false", PYTHONDONTWRITEBYTECODE="1")
    t0 = time.perf_counter()
    try:
        r = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                            "-p", "no:randomly", *tests], cwd=tree, env=env,
                           capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", time.perf_counter() - t0
    outcome = "passed" if r.returncode == 0 else "failed"
    if r.returncode not in (0, 1):
        outcome = f"error({r.returncode})"
    return outcome, time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rev", default=None, help="git revision to audit (default: working tree)")
    ap.add_argument("--target", action="append", required=True, help="file to mutate (repeatable)")
    ap.add_argument("--tests", nargs="+", required=True, help="test files or node ids to run")
    ap.add_argument("--json", help="write the per-mutant results here")
    ap.add_argument("--survivors-of", help="only the mutants that survived in this earlier --json")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="regsim-mutation-") as tmp:
        tree = export(args.rev, Path(tmp))
        check = subprocess.run([sys.executable, "-c", "import regsim.plugins as p; print(p.__file__)"],
                               env=dict(os.environ, PYTHONPATH=str(tree)),
                               capture_output=True, text=True, cwd=tree)
        assert check.stdout.startswith(tmp), f"imports the wrong copy: {check.stdout}{check.stderr}"
        base, t_base = run_tests(tree, args.tests, None)
        print(f"unmutated: {base} in {t_base:.1f}s", flush=True)
        if base != "passed":
            print("the unmutated tests do not pass; nothing to audit")
            return 2
        results = []
        for rel in args.target:
            path = tree / rel
            original = path.read_text()
            ms = mutants(path, rel)
            if args.survivors_of:
                earlier = {(r["file"], r["line"], r["kind"], r["detail"])
                           for r in json.loads(Path(args.survivors_of).read_text())
                           if not r["killed"]}
                ms = [mu for mu in ms if (mu.file, mu.line, mu.kind, mu.detail) in earlier]
            print(f"{rel}: {len(ms)} mutants", flush=True)
            for mu in ms:
                path.write_text(mu.source)
                outcome, t = run_tests(tree, args.tests, timeout=4 * t_base + 10)
                path.write_text(original)
                killed = outcome != "passed"
                results.append({"file": mu.file, "line": mu.line, "kind": mu.kind,
                                "detail": mu.detail, "outcome": outcome, "killed": killed})
                if not killed:
                    print(f"  SURVIVED {rel}:{mu.line} {mu.kind} {mu.detail}", flush=True)
        total = len(results)
        survived = [r for r in results if not r["killed"]]
        print(f"\n{total} mutants, {total - len(survived)} killed, {len(survived)} survived")
        for rel in args.target:
            rs = [r for r in results if r["file"] == rel]
            print(f"  {rel}: {len(rs)} mutants, {sum(not r['killed'] for r in rs)} survived")
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
