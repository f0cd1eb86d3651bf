"""docker-compose.yaml and the Dockerfile, checked without a Docker engine.

No engine runs on the machines this project is built on, so the stack itself is never
started here. What can be checked is checked: every service can be created, waits for
what it needs the right way, mounts folders that exist, and gets every setting Vigil's
code reads; the image is built from the Airflow version the project pins.
"""

from __future__ import annotations

import ast
import re
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from vigil.context import BUILTIN_REFERENCES
from vigil.scenarios.suites import JUNIT_ENV
from vigil.stack.airflow import CELERY_SETTINGS, SHARED_SETTINGS, airflow_env
from vigil.stack.state import Ports, StackPaths

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
# Variables Vigil's code and specs read that a deployment has to provide.
WATCHED = re.compile(r"(AIRFLOW_CONN_|DEMO_|VIGIL_)[A-Z0-9_]+")
# Code that runs only in the local stack (`make demo`), never inside Airflow.
LOCAL_STACK = REPO / "include" / "vigil" / "stack"
AIRFLOW_SERVICES = (
    "airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
    "airflow-worker", "airflow-triggerer",
)  # fmt: skip


@cache
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((REPO / "docker-compose.yaml").read_text()))


def services() -> dict[str, dict[str, Any]]:
    return dict(compose()["services"])


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # KEY=VALUE list form
        return dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _depends_on(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: {} for name in deps}
    return dict(deps)


def test_every_service_has_an_image_or_a_build() -> None:
    missing = [
        name for name, svc in services().items() if not (svc.get("image") or svc.get("build"))
    ]
    assert not missing, f"services without image or build: {missing}"


def test_the_stack_has_the_celery_shape() -> None:
    names = set(services())
    assert set(AIRFLOW_SERVICES) | {"postgres", "redis"} <= names
    assert {"demo-db", "orders-api", "inventory-api", "demo-worker"} <= names
    env = _environment(services()["airflow-scheduler"])
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert "@redis:6379" in env["AIRFLOW__CELERY__BROKER_URL"]


def test_depends_on_names_services_and_waits_for_their_health() -> None:
    problems = []
    for name, svc in services().items():
        for target, rule in _depends_on(svc).items():
            if target not in services():
                problems.append(f"{name} depends on unknown service {target}")
                continue
            condition = rule.get("condition")
            if "healthcheck" in services()[target]:
                expected = {"service_healthy"}
            else:  # one-shot jobs: wait until they finished
                expected = {"service_completed_successfully"}
            if condition not in expected:
                problems.append(f"{name} → {target}: condition {condition}, expected {expected}")
    assert not problems, "\n".join(problems)


def test_long_running_services_have_healthchecks() -> None:
    one_shot = {"airflow-init", "demo-init"}
    missing = [n for n, s in services().items() if n not in one_shot and "healthcheck" not in s]
    # The demo worker has no port to probe; everything else does.
    assert missing == ["demo-worker"], f"services without a healthcheck: {missing}"


def test_mounted_host_folders_exist() -> None:
    missing = []
    for name, svc in services().items():
        for volume in svc.get("volumes") or []:
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source")
            if source and source.startswith((".", "/")) and not (REPO / source).exists():
                missing.append(f"{name}: {source}")
    assert not missing, f"bind mounts of folders missing from the repo: {missing}"


def test_named_volumes_are_declared() -> None:
    declared = set(compose().get("volumes") or {})
    used = {
        v.split(":", 1)[0]
        for svc in services().values()
        for v in svc.get("volumes") or []
        if isinstance(v, str) and not v.startswith((".", "/"))
    }
    assert used <= declared, f"undeclared named volumes: {sorted(used - declared)}"


def test_workers_can_be_scaled() -> None:
    worker = services()["airflow-worker"]
    # `--scale` fails on a fixed container name or a fixed host port.
    assert "container_name" not in worker
    assert not worker.get("ports"), "a scaled worker cannot bind a fixed host port"


def _string_constants(path: Path) -> set[str]:
    return {
        node.value
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path)))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


@cache
def variables_read_by_vigil() -> frozenset[str]:
    """Names read by the code Airflow runs (include/, demo/, dags/) and by the specs.

    String constants that look like a watched variable count as read: the code reads
    them through `os.environ.get(NAME)` or through constants such as demo's ENV_*.
    """
    names: set[str] = set()
    for folder in ("include", "demo", "dags"):
        for path in (REPO / folder).rglob("*.py"):
            if LOCAL_STACK in path.parents:
                continue
            names |= {s for s in _string_constants(path) if WATCHED.fullmatch(s)}
    # Built-in references (`${VIGIL_INVALID_CREDENTIAL}`) are Vigil's own values, never
    # read from the environment: nothing for a deployment to provide.
    names -= set(BUILTIN_REFERENCES)
    # Set by Vigil for a test suite's command (where its JUnit XML goes), never read.
    names -= {JUNIT_ENV}
    for spec in (REPO / "include" / "specs").glob("*.y*ml"):
        text = spec.read_text()
        names |= {m for m in re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", text) if WATCHED.fullmatch(m)}
        for conn_id in re.findall(r"^\s*(?:results_)?conn_id:\s*([\w-]+)", text, flags=re.M):
            names.add(f"AIRFLOW_CONN_{conn_id.upper()}")
    return frozenset(names)


def test_the_scan_finds_what_vigil_is_known_to_read() -> None:
    # Guards the scan itself: if these disappear, the scan broke, not the code.
    assert {"AIRFLOW_CONN_VIGIL_RESULTS", "DEMO_ORDERS_URL", "VIGIL_SPECS_DIR"} <= (
        variables_read_by_vigil()
    )


@pytest.mark.parametrize("service", AIRFLOW_SERVICES)
def test_airflow_services_get_every_variable_vigil_reads(service: str) -> None:
    provided = _environment(services()[service])
    missing = sorted(variables_read_by_vigil() - set(provided))
    assert not missing, f"{service} lacks {missing} (read by Vigil's code or specs)"


@pytest.mark.parametrize("service", AIRFLOW_SERVICES)
def test_airflow_services_run_with_the_local_celery_stacks_settings(
    service: str, tmp_path: Path
) -> None:
    """One source for the settings: what `VIGIL_EXECUTOR=celery make demo` runs with (and
    the e2e test proves) is what compose sets, apart from addresses."""
    provided = _environment(services()[service])
    local = airflow_env(StackPaths.from_env({"VIGIL_STATE_DIR": str(tmp_path)}), Ports(), "celery")
    for name, value in {**SHARED_SETTINGS, **CELERY_SETTINGS}.items():
        assert local[name] == value, name  # the local stack applies them as they are
        assert provided.get(name) == value, (
            f"{service}: {name}={provided.get(name)!r}, not {value!r}"
        )
    for name in ("AIRFLOW__CELERY__BROKER_URL", "AIRFLOW__CELERY__RESULT_BACKEND"):
        scheme = local[name].split("://", 1)[0]
        assert provided[name].startswith(f"{scheme}://"), f"{service}: {name}={provided[name]}"


def test_the_local_stack_provides_the_same_variables(tmp_path: Path) -> None:
    env = airflow_env(StackPaths.from_env({"VIGIL_STATE_DIR": str(tmp_path)}), Ports())
    missing = sorted(variables_read_by_vigil() - set(env))
    assert not missing, f"vigil.stack.airflow.airflow_env lacks {missing}"


def _pinned_airflow() -> str:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins: list[str] = [d for d in project["dependencies"] if re.match(r"apache-airflow==", d)]
    assert len(pins) == 1, f"expected one apache-airflow==X pin, found {pins}"
    return pins[0].split("==", 1)[1]


def _dockerfile_from() -> str:
    lines = (REPO / "Dockerfile").read_text().splitlines()
    froms = [line.split()[1] for line in lines if line.upper().startswith("FROM ")]
    assert len(froms) == 1, f"expected one FROM, found {froms}"
    return froms[0]


def test_the_image_is_built_from_the_pinned_airflow() -> None:
    image = _dockerfile_from()
    match = re.fullmatch(r"apache/airflow:(?P<version>[\d.]+)(?:-python(?P<python>[\d.]+))?", image)
    assert match, f"Dockerfile FROM {image} is not an official apache/airflow image"
    assert match["version"] == _pinned_airflow()
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    if match["python"]:
        minor = int(match["python"].split(".")[1])
        low, high = (int(v) for v in re.findall(r"3\.(\d+)", requires)[:2])
        assert low <= minor < high, f"python{match['python']} outside requires-python {requires}"


def test_the_image_installs_the_locked_dependencies() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert "uv export --frozen --no-dev" in text
    assert "pip install --no-cache-dir -r /tmp/vigil/requirements.txt" in text


def test_the_dockerfile_copies_only_folders_that_exist() -> None:
    missing = []
    for line in (REPO / "Dockerfile").read_text().splitlines():
        if not line.startswith("COPY "):
            continue
        sources = [p for p in line.split()[1:-1] if not p.startswith("--")]
        missing += [s for s in sources if not (REPO / s).exists()]
    assert not missing, f"Dockerfile COPYs what the repo lacks: {missing}"


def test_init_creates_every_pool_the_families_run_in() -> None:
    """A task in a pool that does not exist is never scheduled: airflow-init creates each
    one, with the slots `vigil.stack up` gives it (one source: vigil.families.pools())."""
    from vigil import families

    init = services()["airflow-init"]
    command = init["command"] if isinstance(init["command"], str) else " ".join(init["command"])
    expected = families.pools()
    assert expected, "no family declares a pool; this test has nothing to hold"
    for name, (slots, description) in expected.items():
        assert f'airflow pools set {name} {slots} "{description}"' in command, name


def _helm_values() -> dict[str, Any]:
    """The values excerpt under the README's "Helm" heading."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("### Helm", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", section, flags=re.S)
    assert block, "no yaml block under the README's Helm heading"
    return dict(yaml.safe_load(block.group(1)))


def test_the_readmes_helm_values_carry_the_same_settings() -> None:
    values = _helm_values()
    env = {item["name"]: str(item["value"]) for item in values["env"]}
    # The chart sets AIRFLOW__CORE__EXECUTOR from `executor`, and runs Redis for Celery.
    assert values["executor"] == CELERY_SETTINGS["AIRFLOW__CORE__EXECUTOR"]
    assert values["redis"]["enabled"] is True and values["workers"]["replicas"] >= 2
    wanted = {**SHARED_SETTINGS, **CELERY_SETTINGS}
    wanted.pop("AIRFLOW__CORE__EXECUTOR")
    differ = {
        name: (env.get(name), value) for name, value in wanted.items() if env.get(name) != value
    }
    assert not differ, f"Helm values (got, expected): {differ}"
    # What Vigil's code reads, apart from values only the local stack and its demo set.
    provided = set(env) | {item["envName"] for item in values.get("secret", [])}
    needed = {
        n
        for n in variables_read_by_vigil()
        if not n.startswith(("DEMO_", "AIRFLOW_CONN_VIGIL_DEMO"))
    }
    missing = sorted(needed - provided)
    assert not missing, f"the Helm values lack {missing}"
