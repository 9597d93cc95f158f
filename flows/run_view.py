"""What Prefect shows of a sweep: run names, tags, artifacts and the final state.

Prefect's conventions, applied to a sweep:

- flow run ``<sweep> <run id>``, tags ``sweep:<name>``, ``spec:<hash>``,
  ``runner:<kind>``; task runs ``chunk-00003 (120 cells, seeds 0-9)``;
- a progress artifact updated as chunks finish; at the end a table artifact
  (cells by status, then one row per claim), a markdown artifact (the report's
  claim sentences, and the ``regsim report`` command that writes the figures)
  and a link artifact to the results;
- the final state: ``Failed`` (message: the counts and the first errors) when a
  cell errored or a chunk could not be stored, the rows that succeeded stay
  stored; ``Completed`` otherwise, with a WARNING log line per non-ok result
  status (``diverged``, ``not_converged``: results, not failures).
"""

import re
from pathlib import Path
from typing import Any

from regsim.runner import STATUSES

#: Statuses that fail the flow run; every other non-ok status is a result logged as a warning.
FAILING_STATUSES = ("error",)
#: Errors quoted in a Failed state's message.
FIRST_ERRORS = 3


def artifact_key(*words: str) -> str:
    """A Prefect artifact key (lowercase letters, digits and dashes) from ``words``."""
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", "-".join(words).lower())).strip("-")


def _spec_name(spec: Any) -> str:
    if isinstance(spec, dict):
        return str(spec.get("name", "sweep"))
    try:
        import yaml

        return str(yaml.safe_load(Path(spec).read_text()).get("name", Path(spec).stem))
    except Exception:  # the flow itself reports an unreadable spec
        return Path(str(spec)).stem


def flow_run_name() -> str:
    """``<sweep name> <UTC start>``: the flow renames itself ``<sweep> <run id>`` once known."""
    from datetime import datetime, timezone

    from prefect.runtime import flow_run

    name = _spec_name(flow_run.parameters.get("spec"))
    return f"{name} {datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}"


def describe_chunk(chunk) -> str:
    """``chunk-00003 (120 cells, seeds 0-9)``: what a task run holds."""
    seeds = sorted({c.seed for c in chunk.cells})
    if not seeds:
        held = "0 cells"
    else:
        span = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {seeds[0]}-{seeds[-1]}"
        held = f"{len(chunk.cells)} cell{'s' if len(chunk.cells) != 1 else ''}, {span}"
    return f"chunk-{chunk.index:05d} ({held})"


def task_run_name(parameters: dict[str, Any]) -> str:
    """``task_run_name`` callable for ``run_chunk`` (Prefect passes the task's parameters)."""
    return describe_chunk(parameters["chunk"])


#: Prefix of the key-value metadata regsim writes into every Parquet part.
METADATA_PREFIX = "regsim."


def part_metadata(run_dir: str | Path) -> dict[str, str]:
    """Key-value metadata for a Parquet part of ``run_dir``, from the run's manifest:
    ``regsim.sweep``, ``regsim.run_id``, ``regsim.spec_hash`` and ``regsim.versions``
    (JSON), so a part describes itself once copied out of its run directory."""
    import json

    from regsim.store import read_manifest

    try:
        manifest = read_manifest(run_dir)
    except (OSError, ValueError):  # no manifest (a chunk run on its own): nothing to describe
        return {}
    return {f"{METADATA_PREFIX}sweep": str(manifest.get("sweep", "")),
            f"{METADATA_PREFIX}run_id": str(manifest.get("run_id", "")),
            f"{METADATA_PREFIX}spec_hash": str(manifest.get("spec_hash", "")),
            f"{METADATA_PREFIX}versions": json.dumps(manifest.get("versions", {}),
                                                     sort_keys=True)}


def in_flow_run() -> bool:
    from prefect.context import FlowRunContext

    return FlowRunContext.get() is not None


class ProgressArtifact:
    """A Prefect progress artifact (0-100 %) for the current flow run; no-op outside one."""

    def __init__(self, key: str | None = None, description: str | None = None):
        self.id = None
        if not in_flow_run():
            return
        from prefect.artifacts import create_progress_artifact

        self.id = create_progress_artifact(0.0, key=key, description=description)

    def update(self, percent: float, description: str | None = None) -> None:
        if self.id is None:
            return
        from prefect.artifacts import update_progress_artifact

        update_progress_artifact(self.id, min(100.0, max(0.0, percent)), description=description)


def failure_message(counts: dict[str, int], first_errors: list[str],
                    failed_chunks: list[str]) -> str:
    """One message for a Failed state: the counts, then the first errors."""
    total = sum(counts.values())
    parts = [f"{counts.get(s, 0)} of {total} cells {s}" for s in FAILING_STATUSES
             if counts.get(s, 0)]
    if failed_chunks:
        parts.append(f"{len(failed_chunks)} chunk(s) not stored (rerun to retry): "
                     f"{failed_chunks[0]}")
    counted = ", ".join(f"{s} {counts.get(s, 0)}" for s in _statuses(counts))
    message = "; ".join(parts) + f" ({counted})"
    if first_errors:
        message += "; first errors: " + " | ".join(first_errors)
    return message


def _statuses(counts: dict[str, int]) -> list[str]:
    return list(STATUSES) + sorted(set(counts) - set(STATUSES))


def _first_errors(df, n: int = FIRST_ERRORS) -> list[str]:
    if "status" not in df or "error" not in df:
        return []
    errors = df[df["status"].isin(FAILING_STATUSES)]
    return [f"{row.cell_id}: {str(row.error).splitlines()[0][:200]}"
            for row in errors.head(n).itertuples()]


def claim_rows(claims) -> list[dict[str, Any]]:
    from regsim.claims import format_number

    return [{"claim": c.topic, "configuration": c.subject, "cells": c.n_cells,
             "measured": ", ".join(f"{k} {format_number(v)}" for k, v in c.values.items()),
             "result": c.text} for c in claims]


def summary_markdown(sweep_name: str, run_id: str, counts: dict[str, int], claims,
                     run_dir: Path) -> str:
    """The flow run's markdown artifact: counts, then the report's claim sentences."""
    lines = [f"# {sweep_name}: run {run_id}", "",
             "cells: " + ", ".join(f"{s} {counts.get(s, 0)}" for s in _statuses(counts)), ""]
    if claims:
        lines += ["## Claims", ""] + [f"- {c.text}" for c in claims]
    else:
        lines += ["No claim of the seed has its columns in these results."]
    lines += ["", f"Results: `{run_dir}`; report: `regsim report {run_dir}` "
                  f"(writes `{run_dir / '_report' / 'index.html'}`)."]
    return "\n".join(lines)


#: Most rows read to compute a run's claim sentences for its artifacts. A larger run
#: is read through every k-th part (whole parts, so whole batched groups): the claims
#: then describe that evenly spread share, and their artifact says how many cells.
CLAIM_ROWS_MAX = 500_000


def _claim_rows(run_dir: Path):
    """The run's rows (at most about :data:`CLAIM_ROWS_MAX`), only the columns the claims
    and the failure message read; ``df.attrs["n_rows_total"]`` is the run's row count."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from regsim.claims import COLUMNS

    parts, names, sizes = [], set(), []
    for part in sorted(run_dir.glob("part-*.parquet")):
        try:
            meta = pq.ParquetFile(part)
            names |= set(meta.schema_arrow.names)
            sizes.append(meta.metadata.num_rows)
            parts.append(part)
        except Exception:  # a damaged part: the store's readers report it
            continue
    wanted = [c for c in ("cell_id", "error", *COLUMNS) if c in names]
    total = sum(sizes)
    step = max(1, -(-total // CLAIM_ROWS_MAX))
    tables = []
    for part in parts[::step]:
        try:
            pf = pq.ParquetFile(part, page_checksum_verification=True)
            tables.append(pf.read(columns=[c for c in wanted if c in pf.schema_arrow.names]))
        except Exception:
            continue
    if not tables or not wanted:
        df = pd.DataFrame()
    else:
        df = pa.concat_tables([t.replace_schema_metadata(None) for t in tables],
                              promote_options="permissive").to_pandas()
    df.attrs["n_rows_total"] = total
    return df


def _scan_first_errors(run_dir: Path, n: int = FIRST_ERRORS) -> list[str]:
    """The first ``n`` failing rows of a run, read part by part (three columns each)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    out: list[str] = []
    for part in sorted(run_dir.glob("part-*.parquet")):
        try:
            table = pq.read_table(part, columns=["cell_id", "status", "error"])
        except Exception:
            continue
        failing = table.filter(pc.is_in(table.column("status"),
                                        value_set=pa_array(FAILING_STATUSES)))
        for row in failing.slice(0, n - len(out)).to_pylist():
            out.append(f"{row['cell_id']}: {str(row['error']).splitlines()[0][:200]}")
        if len(out) >= n:
            break
    return out


def pa_array(values):
    import pyarrow as pa

    return pa.array(list(values), type=pa.string())


def finish(summary: dict[str, Any], *, sweep_name: str, spec_hash: str, runner: str,
           logger, df=None):
    """Publish the artifacts, name and tag the flow run, and return its final state.

    ``summary`` is what the flow returns (``counts``, ``run_dir``, ``run_id``,
    ``failed_chunks``). Returns ``summary`` itself (Completed) or
    ``prefect.states.Failed(message=..., data=summary)``; ``df`` is the run's
    results (read from ``run_dir`` when not given). Outside a flow run only the
    state is built.
    """
    from prefect.states import Failed

    counts, run_dir = summary["counts"], Path(summary["run_dir"])
    sampled = df is None
    if df is None:
        df = _claim_rows(run_dir)
    total = sum(counts.values())
    for status in _statuses(counts):
        if status != "ok" and status not in FAILING_STATUSES and counts.get(status, 0):
            logger.warning("sweep %s: %d of %d cells %s (a result, not a failure; see the "
                           "'error' column)", sweep_name, counts[status], total, status)
    found = []
    try:
        from regsim.claims import claims as build_claims

        found = build_claims(df) if len(df) else []
    except Exception as exc:  # the summary is a courtesy: never fail a finished sweep on it
        logger.warning("could not compute the claim sentences: %s: %s", type(exc).__name__, exc)
    if in_flow_run():
        _publish(summary, sweep_name=sweep_name, spec_hash=spec_hash, runner=runner,
                 counts=counts, claims=found, run_dir=run_dir, logger=logger)
    failing = sum(counts.get(s, 0) for s in FAILING_STATUSES)
    if failing or summary.get("failed_chunks"):
        errors = _scan_first_errors(run_dir) if sampled else _first_errors(df)
        message = failure_message(counts, errors, summary.get("failed_chunks", []))
        logger.error("sweep %s: %s", sweep_name, message)
        return Failed(message=message, data=summary)
    return summary


def _publish(summary, *, sweep_name, spec_hash, runner, counts, claims, run_dir, logger):
    from prefect import get_client
    from prefect.artifacts import (
        create_link_artifact,
        create_markdown_artifact,
        create_table_artifact,
    )
    from prefect.runtime import flow_run

    run_id = summary["run_id"]
    try:
        with get_client(sync_client=True) as client:
            client.update_flow_run(
                flow_run.id, name=f"{sweep_name} {run_id}",
                tags=sorted(set(flow_run.tags or []) | {
                    f"sweep:{sweep_name}", f"spec:{spec_hash}", f"runner:{runner}"}))
    except Exception as exc:  # naming is cosmetic: never fail a finished sweep on it
        logger.warning("could not rename or tag the flow run: %s", exc)
    key = artifact_key("regsim", sweep_name)
    table = [{"claim": "cells", "configuration": status, "cells": counts.get(status, 0),
              "measured": "", "result": ""} for status in _statuses(counts)] + claim_rows(claims)
    create_table_artifact(table, key=f"{key}-results",
                          description=f"{sweep_name} run {run_id}: cells by status, then "
                                      "one row per claim of the seed")
    create_markdown_artifact(summary_markdown(sweep_name, run_id, counts, claims, run_dir),
                             key=f"{key}-summary",
                             description=f"{sweep_name} run {run_id}: the report's sentences")
    create_link_artifact(run_dir.resolve().as_uri(), link_text=f"results: {run_dir}",
                         key=f"{key}-results-dir", description="the run's Parquet parts")
    # No link to the report: the sweep does not write it (`regsim report` does, on demand),
    # and a link to a page that does not exist would claim one; the markdown says how.
