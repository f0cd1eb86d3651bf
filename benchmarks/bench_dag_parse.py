"""How long Airflow takes to parse Vigil's DAG file for a spec with 200 checks.

Reference, measured in the same run: a hand-written DAG file with the same tasks (one
PythonOperator per target in task groups, plus `summarize` and `evaluate`) and the same
trigger-form params, and no YAML. The ratio says
what the spec loader and factory add on top of what Airflow itself costs.

Run: .venv/bin/python benchmarks/bench_dag_parse.py   (prints one JSON line last)
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGETS = 50
CHECKS_PER_TARGET = 4  # 200 checks
ROUNDS = 15


def write_spec(directory: Path) -> None:
    lines = ["environment: bench", "targets:"]
    for t in range(TARGETS):
        lines += [f"  svc-{t}:", "    kind: http", f"    base_url: http://127.0.0.1:{20000 + t}"]
        if t:
            lines.append(f"    depends_on: [svc-{t - 1}]")
    lines += ["checks:", "  health:"]
    for t in range(TARGETS):
        for c in range(CHECKS_PER_TARGET):
            lines += [
                f"    - id: svc-{t}-check-{c}",
                "      kind: http",
                f"      target: svc-{t}",
                f"      path: /health/{c}",
                "      latency_budget_ms: 500",
                "      conditions:",
                '        - status == "ok"',
            ]
    (directory / "bench.yaml").write_text("\n".join(lines) + "\n")


# The same DAGs written by hand: same tasks, same dependencies, and the same trigger form
# (Airflow copies a DAG's params into every task, so leaving them out would flatter it).
REFERENCE_DAG = """
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Param, TaskGroup

def noop(**_):
    pass

TARGET_NAMES = [f"svc-{t}" for t in range(TARGETS)]
CHECK_IDS = sorted(f"svc-{t}-check-{c}" for t in range(TARGETS) for c in range(CHECKS))
PARAMS = {
    "families": Param(["health"], type="array", items={"type": "string", "enum": ["health"]}),
    "targets": Param([], type="array", items={"type": "string", "enum": sorted(TARGET_NAMES)}),
    "checks": Param([], type="array", items={"type": "string", "enum": CHECK_IDS}),
    "dry_run": Param(False, type="boolean"),
}

for cadence in ("daily", "weekly", "monthly"):
    with DAG(dag_id=f"ref_{cadence}", schedule="0 6 * * *", catchup=False, tags=["ref"],
             params=PARAMS, default_args={"owner": "vigil", "retries": 2}) as dag:
        done = PythonOperator(task_id="summarize", python_callable=noop, trigger_rule="all_done")
        PythonOperator(task_id="evaluate", python_callable=noop, trigger_rule="all_done")
        with TaskGroup("health"):
            previous = None
            for t in range(TARGETS):
                op = PythonOperator(task_id=f"svc-{t}", python_callable=noop,
                                    op_kwargs={"target": f"svc-{t}"}, trigger_rule="all_done")
                if previous is not None:
                    previous >> op
                op >> done
                previous = op
    globals()[dag.dag_id] = dag
""".replace("TARGETS", str(TARGETS)).replace("CHECKS", str(CHECKS_PER_TARGET))


def time_parse(dag_folder: Path) -> tuple[float, int]:
    from airflow.dag_processing.dagbag import DagBag

    samples, count = [], 0
    for _ in range(ROUNDS):
        start = time.perf_counter()
        bag = DagBag(dag_folder=str(dag_folder))
        samples.append(time.perf_counter() - start)
        assert not bag.import_errors, bag.import_errors
        count = len(bag.dag_ids)
    return statistics.median(samples), count


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "specs").mkdir()
        (root / "vigil_dags").mkdir()
        (root / "ref_dags").mkdir()
        write_spec(root / "specs")
        (root / "vigil_dags" / "vigil_dags.py").write_text(
            (REPO / "dags" / "vigil_dags.py").read_text()
        )
        (root / "ref_dags" / "ref_dags.py").write_text(REFERENCE_DAG)
        os.environ["VIGIL_SPECS_DIR"] = str(root / "specs")
        time_parse(root / "ref_dags")  # warm imports for both
        vigil_s, vigil_dags = time_parse(root / "vigil_dags")
        ref_s, ref_dags = time_parse(root / "ref_dags")
    print(
        f"Vigil DAG file, spec of {TARGETS * CHECKS_PER_TARGET} checks: {vigil_s * 1000:.0f} ms "
        f"for {vigil_dags} DAGs (median of {ROUNDS})",
        file=sys.stderr,
    )
    print(
        f"hand-written DAG file, same tasks: {ref_s * 1000:.0f} ms for {ref_dags} DAGs",
        file=sys.stderr,
    )
    print(
        json.dumps(
            {
                "name": "dag_parse_200_checks",
                "seconds": round(vigil_s, 4),
                "reference": "hand-written DAG file with the same tasks and params, no YAML",
                "reference_seconds": round(ref_s, 4),
                "ratio": round(vigil_s / ref_s, 2),
                "dags": vigil_dags,
            }
        )
    )


if __name__ == "__main__":
    main()
