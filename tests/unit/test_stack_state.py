"""The local stack's settings: ports, secrets, the Airflow environment, progress lines."""

from __future__ import annotations

import io
import json
import stat
from pathlib import Path

import pytest

from vigil.stack.airflow import SERVICES, airflow_env, parallelism, worker_concurrency
from vigil.stack.progress import Progress, StageFailed, describe_failure
from vigil.stack.state import (
    PORT_VARS,
    Ports,
    StackError,
    StackPaths,
    admin_password,
    executor_from_env,
    load_secrets,
    repo_root,
)

pytestmark = pytest.mark.unit


@pytest.fixture
def paths(tmp_path: Path) -> StackPaths:
    return StackPaths.from_env({"VIGIL_STATE_DIR": str(tmp_path / "state")})


def test_state_dir_defaults_to_the_repo_and_follows_vigil_state_dir(tmp_path: Path) -> None:
    assert StackPaths.from_env({}).state == repo_root() / ".state"
    assert StackPaths.from_env({"VIGIL_STATE_DIR": str(tmp_path)}).state == tmp_path


def test_ports_come_from_the_environment() -> None:
    assert Ports.from_env({}) == Ports()
    ports = Ports.from_env({"VIGIL_API_PORT": "9090", "VIGIL_PG_PORT": "5500"})
    assert (ports.api, ports.pg, ports.orders) == (9090, 5500, 18081)


@pytest.mark.parametrize("value", ["http", "0", "70000", "-1"])
def test_a_bad_port_names_its_variable(value: str) -> None:
    with pytest.raises(StackError, match=f"VIGIL_API_PORT={value!r} is not a port"):
        Ports.from_env({"VIGIL_API_PORT": value})


def test_every_port_has_a_variable() -> None:
    assert sorted(PORT_VARS.values()) == sorted(Ports.__dataclass_fields__)


def test_ports_saved_with_the_state_are_read_back(paths: StackPaths) -> None:
    paths.make_dirs()
    assert Ports.saved(paths) is None
    Ports(api=9999).save(paths)
    assert Ports.saved(paths) == Ports(api=9999)


def test_the_executor_comes_from_vigil_executor() -> None:
    assert executor_from_env({}) == "local"
    assert executor_from_env({"VIGIL_EXECUTOR": " Celery "}) == "celery"
    with pytest.raises(StackError, match="VIGIL_EXECUTOR='kubernetes' is not one of local, celery"):
        executor_from_env({"VIGIL_EXECUTOR": "kubernetes"})


def test_the_celery_stack_uses_its_broker_and_the_metadata_database(paths: StackPaths) -> None:
    ports = Ports(pg=5555, redis=6666)
    local, celery = airflow_env(paths, ports), airflow_env(paths, ports, "celery")
    assert local["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert not any(name.startswith("AIRFLOW__CELERY__") for name in local)
    assert celery["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert celery["AIRFLOW__CELERY__BROKER_URL"] == "redis://127.0.0.1:6666/0"
    assert celery["AIRFLOW__CELERY__RESULT_BACKEND"] == (
        "db+postgresql://postgres@127.0.0.1:5555/airflow"
    )
    # Two workers share the slots the LocalExecutor would have.
    assert 2 * worker_concurrency() <= parallelism() or worker_concurrency() == 1
    assert int(celery["AIRFLOW__CELERY__WORKER_CONCURRENCY"]) == worker_concurrency()


def test_secrets_are_generated_once_private_and_long(paths: StackPaths) -> None:
    first = load_secrets(paths)
    assert load_secrets(paths) == first
    assert stat.S_IMODE(paths.secrets_file.stat().st_mode) == 0o600
    # Airflow warns on every component about JWT secrets shorter than 64 bytes.
    assert len(first.jwt_secret.encode()) >= 64
    assert first.jwt_secret != first.api_secret_key


def test_admin_password_is_kept_in_the_simple_auth_managers_file(paths: StackPaths) -> None:
    password = admin_password(paths)
    assert admin_password(paths) == password
    assert json.loads(paths.passwords_file.read_text()) == {"admin": password}


def test_airflow_env_points_every_component_at_the_stack(paths: StackPaths) -> None:
    ports = Ports(api=9001, pg=9002, orders=9003, inventory=9004, webhook=9007,
                  worker_log=9005, trigger_log=9006)  # fmt: skip
    env = airflow_env(paths, ports)
    assert env["AIRFLOW_HOME"] == str(paths.airflow_home)
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == (
        "postgresql+psycopg2://postgres@127.0.0.1:9002/airflow"
    )
    assert env["AIRFLOW__API__PORT"] == "9001"
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:9001/execution/"
    assert env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] == "9005"
    assert env["AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"] == "9006"
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(repo_root() / "dags")
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] == str(paths.passwords_file)
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == load_secrets(paths).jwt_secret
    assert env["AIRFLOW__CORE__PARALLELISM"] == str(parallelism())
    assert env["AIRFLOW_CONN_VIGIL_RESULTS"] == "postgresql://postgres@127.0.0.1:9002/vigil_results"
    assert env["AIRFLOW_CONN_VIGIL_DEMO_DB"] == "postgresql://postgres@127.0.0.1:9002/demo"
    assert env["DEMO_ORDERS_URL"] == "http://127.0.0.1:9003"
    assert env["DEMO_INVENTORY_URL"] == "http://127.0.0.1:9004"
    assert env["DEMO_WEBHOOK_URL"] == "http://127.0.0.1:9007/hooks/vigil"
    assert env["VIGIL_AIRFLOW_URL"] == "http://127.0.0.1:9001"
    assert env["VIGIL_STATE_DIR"] == str(paths.state)
    assert env["VIGIL_SPECS_DIR"] == str(repo_root() / "include" / "specs")


def test_airflow_env_carries_the_demo_tokens(paths: StackPaths) -> None:
    from demo import config, webhook_receiver

    env = airflow_env(paths, Ports())
    assert env["DEMO_TOKEN_ACME"] == config.ACME_TOKEN
    assert env["DEMO_TOKEN_GLOBEX"] == config.GLOBEX_TOKEN
    assert env["DEMO_ADMIN_TOKEN"] == config.admin_token()
    assert env["DEMO_WEBHOOK_SECRET"] == webhook_receiver.DEFAULT_SECRET


def test_the_scheduler_starts_last() -> None:
    # Tasks report to the API server: a scheduler started before it fails their attempts.
    assert SERVICES[0] == "api-server"
    assert SERVICES[-1] == "scheduler"


def test_progress_prints_one_line_per_stage() -> None:
    out = io.StringIO()
    progress = Progress(2, out)
    with progress.stage("PostgreSQL") as stage:
        stage.detail = "already running"
    assert out.getvalue().startswith("[1/2] PostgreSQL … ok, already running (")


def test_a_failed_stage_names_itself_and_its_log(tmp_path: Path) -> None:
    out = io.StringIO()
    log = tmp_path / "scheduler.log"
    with pytest.raises(StageFailed) as caught, Progress(3, out).stage("Airflow", log):
        raise RuntimeError("scheduler exited")
    assert "[1/3] Airflow … FAILED" in out.getvalue()
    message = describe_failure(caught.value)
    assert "failed in stage 'Airflow': scheduler exited" in message
    assert f"read the log: {log}" in message


def test_a_stack_error_keeps_its_own_log(tmp_path: Path) -> None:
    specific = tmp_path / "api-server.log"
    with pytest.raises(StageFailed) as caught, Progress(1, io.StringIO()).stage("x", tmp_path):
        raise StackError("api-server exited", specific)
    assert caught.value.log == specific
