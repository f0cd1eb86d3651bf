"""Vigil's pages behind Airflow's authentication, served by Airflow's own API app.

`airflow.api_fastapi.app.create_app` (what `airflow api-server` serves) loads the plugin
from plugins/, as the API server does, and mounts it at /vigil next to its own routes,
middlewares and auth manager: the simple one, with a viewer, a user (may edit DAGs) and an
admin. Tokens come from Airflow's login endpoint (POST /auth/token), over a migrated
SQLite metadata database (Airflow checks every token against its revoked-token table).
The pages read a real results store holding one run of `demo_daily`.

These are Airflow internals (the security dependencies, the plugin loader): this test is
what tells an Airflow upgrade that changed them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from vigil.result import CheckResult, Status
from vigil.results import ResultStore, RunRef
from vigil.stack.airflow import SIMPLE_AUTH_MANAGER
from vigil.stack.postgres import LocalPostgres

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
# name → simple auth manager role: "user" may edit DAGs, "viewer" only reads.
ROLES = {"viewer": "viewer", "editor": "user", "admin": "admin"}
RUN = RunRef("demo", "daily", "demo_daily", "manual__2026-01-05T06:00:00+00:00")
FAILED_CHECK = "orders-fresh"
SILENCES = "/vigil/api/environments/demo/silences"


@dataclass
class Airflow:
    client: TestClient
    tokens: dict[str, str]

    def as_user(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}


def _migrate_metadata_db() -> None:
    """`airflow db migrate` in the session's Airflow home (tests/conftest.py), once."""
    airflow = Path(sys.executable).parent / "airflow"
    done = subprocess.run(
        [str(airflow), "db", "migrate"],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ),
        check=False,
    )
    assert done.returncode == 0, f"airflow db migrate failed:\n{done.stderr[-3000:]}"


def _seed(store: ResultStore) -> None:
    at = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
    store.start_run(RUN, started_at=at)
    store.record(
        RUN,
        [
            CheckResult(
                check_id="db-up", family="health", target="demo-db", status=Status.PASSED,
                started_at=at, check_kind="postgres",
            ),
            CheckResult(
                check_id=FAILED_CHECK, family="quality", target="demo-db",
                status=Status.FAILED, started_at=at, check_kind="freshness",
                message="newest order is 3 days old",
            ),
        ],
    )  # fmt: skip
    store.finish_run(RUN, ended_at=at)


def _clear_plugin_caches() -> None:
    from airflow import plugins_manager

    for name in dir(plugins_manager):
        cache_clear = getattr(getattr(plugins_manager, name), "cache_clear", None)
        if callable(cache_clear):
            cache_clear()


@pytest.fixture(scope="module")
def airflow(pg: LocalPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Airflow]:
    folder = tmp_path_factory.mktemp("ui-auth")
    passwords = folder / "passwords.json"
    passwords.write_text(json.dumps({name: f"{name}-pw" for name in ROLES}))
    results_db = "ui_auth_" + uuid.uuid4().hex[:8]
    pg.create_database(results_db)
    _seed(ResultStore(pg.dsn(results_db)))
    conn_id = "vigil_ui_auth_results"
    _migrate_metadata_db()

    # Imported here: collecting this layer's tests should not cost Airflow's import.
    import airflow.settings
    from airflow.api_fastapi.app import create_app

    from vigil.airflow import ui_plugin

    with pytest.MonkeyPatch.context() as mp:
        # Read by Airflow when asked (the auth manager, the login), not at import.
        mp.setenv("AIRFLOW__CORE__AUTH_MANAGER", SIMPLE_AUTH_MANAGER)
        mp.setenv(
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS",
            ",".join(f"{name}:{role}" for name, role in ROLES.items()),
        )
        mp.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(passwords))
        mp.setenv(ui_plugin.RESULTS_CONN_ENV, conn_id)
        mp.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", pg.dsn(results_db))
        mp.setenv("VIGIL_SPECS_DIR", str(REPO / "include" / "specs"))
        # Read once when Airflow is first imported: this session's Airflow may have been
        # set up by another test before this one.
        mp.setattr(airflow.settings, "PLUGINS_FOLDER", str(REPO / "plugins"))
        _clear_plugin_caches()
        try:
            with TestClient(create_app("core")) as client:
                tokens = {}
                for name in ROLES:
                    login = {"username": name, "password": f"{name}-pw"}
                    answer = client.post("/auth/token", json=login)
                    assert answer.status_code == 201, answer.text
                    tokens[name] = answer.json()["access_token"]
                yield Airflow(client, tokens)
        finally:
            _clear_plugin_caches()


def test_airflow_lists_the_plugin_with_its_views(airflow: Airflow) -> None:
    answer = airflow.client.get("/api/v2/plugins", headers=airflow.as_user("viewer"))
    assert answer.status_code == 200, answer.text
    (plugin,) = [p for p in answer.json()["plugins"] if p["name"] == "vigil"]
    assert [(a["url_prefix"], a["name"]) for a in plugin["fastapi_apps"]] == [("/vigil", "Vigil")]
    views = {v["destination"]: v for v in plugin["external_views"]}
    assert set(views) == {"nav", "dag_run", "task_instance"}
    assert views["nav"]["url_route"] == "vigil" and views["nav"]["name"] == "Vigil"
    assert views["dag_run"]["href"] == "vigil/runs/{DAG_ID}/{RUN_ID}"
    # Relative: resolved against the UI's <base href>, Airflow's base URL.
    assert not any(v["href"].startswith(("/", "http")) for v in views.values())
    errors = airflow.client.get("/api/v2/plugins/importErrors", headers=airflow.as_user("admin"))
    assert errors.json()["import_errors"] == [], errors.text


@pytest.mark.parametrize(
    "path",
    [
        "/vigil/",
        "/vigil/environments/demo",
        f"/vigil/environments/demo/checks/{FAILED_CHECK}",
        "/vigil/alerts",
        f"/vigil/runs/{RUN.dag_id}/{RUN.run_id}",
        "/vigil/api/environments",
        "/vigil/api/openapi.json",
    ],
)
def test_without_a_token_nothing_is_served(airflow: Airflow, path: str) -> None:
    answer = airflow.client.get(path)
    assert answer.status_code == 401, f"{path}: {answer.status_code} {answer.text[:300]}"
    assert answer.json() == {"detail": "Not authenticated"}


def test_an_invalid_or_expired_token_is_refused(airflow: Airflow) -> None:
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    forged = airflow.client.get("/vigil/", headers={"Authorization": "Bearer not-a-jwt"})
    assert forged.status_code == 403, forged.text
    expired = get_auth_manager().generate_jwt(
        SimpleAuthManagerUser(username="viewer", role="viewer"), expiration_time_in_seconds=-3600
    )
    answer = airflow.client.get("/vigil/api/environments", headers={"Cookie": f"_token={expired}"})
    assert answer.status_code == 401, answer.text
    assert answer.json() == {"detail": "Token Expired"}


def test_a_bearer_token_is_served_pages_and_api(airflow: Airflow) -> None:
    headers = airflow.as_user("viewer")
    page = airflow.client.get(f"/vigil/environments/demo/checks/{FAILED_CHECK}", headers=headers)
    assert page.status_code == 200, page.text[:500]
    assert "newest order is 3 days old" in page.text
    api = airflow.client.get("/vigil/api/environments", headers=headers)
    assert api.status_code == 200, api.text
    assert "demo" in json.dumps(api.json())


def test_the_ui_session_cookie_is_served(airflow: Airflow) -> None:
    """What a browser logged in to the Airflow UI sends: its `_token` cookie, no header."""
    cookie = {"Cookie": f"_token={airflow.tokens['viewer']}"}
    run = airflow.client.get(f"/vigil/runs/{RUN.dag_id}/{RUN.run_id}", headers=cookie)
    assert run.status_code == 200, run.text[:500]
    assert FAILED_CHECK in run.text
    api = airflow.client.get("/vigil/api/environments", headers=cookie)
    assert api.status_code == 200, api.text


def _silence(reason: str) -> dict[str, str]:
    return {"scope": f"check_id={FAILED_CHECK}", "duration": "2h", "reason": reason}


def test_a_viewer_may_not_make_or_remove_a_silence(airflow: Airflow) -> None:
    headers = airflow.as_user("viewer")
    made = airflow.client.post(SILENCES, headers=headers, json=_silence("viewer tries"))
    assert made.status_code == 403, made.text
    assert "demo_daily, demo_weekly, demo_monthly" in made.json()["detail"]
    removed = airflow.client.delete(f"{SILENCES}/1", headers=headers)
    assert removed.status_code == 403, removed.text
    anonymous = airflow.client.post(SILENCES, json=_silence("nobody tries"))
    assert anonymous.status_code == 401, anonymous.text


def test_a_user_who_may_edit_the_dags_makes_and_removes_a_silence(
    airflow: Airflow, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.api_fastapi.app import get_auth_manager

    manager = get_auth_manager()
    asked: list[Any] = []
    real = manager.batch_is_authorized_dag

    def spy(requests: Any, *, user: Any) -> bool:
        asked.extend(requests)
        return real(requests, user=user)

    monkeypatch.setattr(manager, "batch_is_authorized_dag", spy)
    headers = airflow.as_user("editor")
    made = airflow.client.post(SILENCES, headers=headers, json=_silence("maintenance"))
    assert made.status_code == 201, made.text
    silence = made.json()
    assert silence["created_by"] == "editor", silence
    # Airflow was asked whether this user may edit each of the environment's DAGs.
    assert sorted((r["method"], r["details"].id) for r in asked) == [
        ("PUT", "demo_daily"), ("PUT", "demo_monthly"), ("PUT", "demo_weekly"),
    ]  # fmt: skip
    listed = airflow.client.get(SILENCES, headers=airflow.as_user("viewer"))
    assert listed.status_code == 200 and "maintenance" in listed.text, listed.text
    removed = airflow.client.delete(f"{SILENCES}/{silence['id']}", headers=headers)
    assert removed.status_code == 200, removed.text
    assert removed.json()["removed_by"] == "editor"


def test_the_pages_silence_form_is_guarded_too(airflow: Airflow) -> None:
    """The alerts page posts a form with the session cookie: the same write guard."""
    form = _silence("from the page")
    path = "/vigil/environments/demo/silences"
    viewer = {"Cookie": f"_token={airflow.tokens['viewer']}"}
    refused = airflow.client.post(path, data=form, headers=viewer, follow_redirects=False)
    assert refused.status_code == 403, refused.text
    editor = {"Cookie": f"_token={airflow.tokens['editor']}"}
    made = airflow.client.post(path, data=form, headers=editor, follow_redirects=False)
    assert made.status_code == 303, f"{made.status_code} {made.text[:300]}"
    listed = airflow.client.get(SILENCES, headers=airflow.as_user("viewer")).json()
    assert [s["created_by"] for s in listed["silences"] if s["reason"] == "from the page"] == [
        "editor"
    ]
