"""The few Airflow REST API v2 calls the stack makes: log in, unpause, trigger, poll."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests

from vigil.stack.state import StackError

FINISHED = frozenset({"success", "failed"})


@dataclass
class AirflowApi:
    base_url: str
    username: str
    password: str
    timeout: float = 15.0
    _token: str | None = field(default=None, repr=False)

    def token(self) -> str:
        """A JWT from the simple auth manager (POST /auth/token), fetched once."""
        if self._token is None:
            body = {"username": self.username, "password": self.password}
            response = self._send("POST", "/auth/token", body, {})
            _check(response, "log in to Airflow")
            self._token = str(response.json()["access_token"])
        return self._token

    def get_dag(self, dag_id: str) -> dict[str, Any] | None:
        response = self._call("GET", f"/api/v2/dags/{quote(dag_id)}")
        if response.status_code == 404:
            return None
        _check(response, f"read DAG {dag_id}")
        return dict(response.json())

    def unpause(self, dag_id: str) -> None:
        response = self._call("PATCH", f"/api/v2/dags/{quote(dag_id)}", {"is_paused": False})
        _check(response, f"unpause DAG {dag_id}")

    def pools(self) -> list[dict[str, Any]]:
        response = self._call("GET", "/api/v2/pools")
        _check(response, "list pools")
        return list(response.json()["pools"])

    def ensure_pool(self, name: str, slots: int, description: str) -> None:
        """Create the pool, or set its slots and description to these."""
        body = {"name": name, "slots": slots, "description": description, "include_deferred": False}
        response = self._call("GET", f"/api/v2/pools/{quote(name)}")
        if response.status_code == 404:
            response = self._call("POST", "/api/v2/pools", body)
        else:
            _check(response, f"read pool {name}")
            response = self._call("PATCH", f"/api/v2/pools/{quote(name)}", body)
        _check(response, f"set pool {name} to {slots} slot(s)")

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        """Start a run now; returns its run id."""
        body: dict[str, Any] = {"logical_date": None}
        if conf:
            body["conf"] = conf
        response = self._call("POST", f"/api/v2/dags/{quote(dag_id)}/dagRuns", body)
        _check(response, f"trigger DAG {dag_id}")
        return str(response.json()["dag_run_id"])

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        path = f"/api/v2/dags/{quote(dag_id)}/dagRuns/{quote(run_id, safe='')}"
        response = self._call("GET", path)
        _check(response, f"read run {run_id} of {dag_id}")
        return dict(response.json())

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        path = f"/api/v2/dags/{quote(dag_id)}/dagRuns/{quote(run_id, safe='')}/taskInstances"
        response = self._call("GET", path)
        _check(response, f"read task instances of {run_id}")
        return list(response.json()["task_instances"])

    def import_errors(self) -> list[str]:
        """DAG files Airflow could not load: "<file>: <error>"."""
        response = self._call("GET", "/api/v2/importErrors")
        _check(response, "read import errors")
        return [
            f"{e.get('filename')}: {e.get('stack_trace')}"
            for e in response.json().get("import_errors", [])
        ]

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 600) -> str:
        """Poll until the run finished; returns its state ("success" or "failed")."""
        deadline = time.monotonic() + timeout
        state = "unknown"
        while time.monotonic() < deadline:
            try:
                state = str(self.dag_run(dag_id, run_id)["state"])
            except StackError as exc:
                # One slow answer (a busy API server on a loaded machine) is not the run's
                # outcome: keep polling until the deadline, and say what was last seen.
                state = f"unknown ({exc})"
            if state in FINISHED:
                return state
            time.sleep(1)
        raise StackError(f"run {run_id} of {dag_id} still {state} after {timeout:.0f} s")

    def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> requests.Response:
        return self._send(method, path, body, {"Authorization": f"Bearer {self.token()}"})

    def _send(
        self, method: str, path: str, body: dict[str, Any] | None, headers: dict[str, str]
    ) -> requests.Response:
        try:
            return requests.request(
                method, f"{self.base_url}{path}", json=body, headers=headers, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise StackError(f"{method} {self.base_url}{path}: {exc}") from exc


def _check(response: requests.Response, doing: str) -> None:
    if response.status_code >= 400:
        raise StackError(
            f"could not {doing}: HTTP {response.status_code} {response.text[:300].strip()}"
        )
