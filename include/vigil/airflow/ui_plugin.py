"""Vigil's pages inside the Airflow UI: an Airflow 3.3 plugin (plugins/vigil_plugin.py loads it).

- `fastapi_apps` mounts Vigil's app (`vigil.ui.app`) at /vigil on the API server;
- `external_views` adds a "Vigil" navigation entry (the overview), a "Vigil" tab on every
  DAG run (that run's report) and one on every task instance (that task's check results).
  The UI shows each in an iframe at /plugin/<url_route>.

Airflow does not protect a plugin's FastAPI app: every route goes through Airflow's own
security dependencies (`airflow.api_fastapi.core_api.security`), which read the user from
a bearer token or from the UI's `_token` cookie. Reading requires the right to read DAG
runs (of the run's DAG on a run's page); creating or removing a silence requires the right
to edit (PUT) every DAG of the silence's environment. These are internal Airflow APIs:
tests/integration/test_ui_auth.py holds them to the pinned version.

Airflow imports this module in every process that loads plugins (task processes too, for
macros): the app is built on first use of `fastapi_apps`, which only the API server asks
for, so a task pays nothing for it.
"""

import base64
import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow.plugins_manager import AirflowPlugin

from vigil.spec.models import CADENCES

if TYPE_CHECKING:
    from fastapi import FastAPI

    from vigil.results import ResultStore

URL_PREFIX = "/vigil"
# The results store the pages read: an Airflow connection id.
RESULTS_CONN_ENV = "VIGIL_UI_RESULTS_CONN_ID"
DEFAULT_RESULTS_CONN_ID = "vigil_results"


def _svg_data_uri(stroke: str, fill: str) -> str:
    """An eye (Vigil watches), inline: no request, no authentication, works behind a proxy.
    An <img> cannot take the nav's text colour, so the eye is filled: it stays visible on
    the highlighted (dark) entry as on the plain one."""
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" '
        f'stroke="{stroke}" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">'
        f'<path fill="{fill}" d="M2 12s3.6-7 10-7 10 7 10 7-3.6 7-10 7S2 12 2 12z"/>'
        f'<circle fill="{stroke}" cx="12" cy="12" r="2.5"/></svg>'
    )
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


ICON = _svg_data_uri("#4a5568", "#ffffff")
ICON_DARK = _svg_data_uri("#e2e8f0", "#1a202c")

# Hrefs are relative (no leading slash): the UI resolves an iframe's src against its
# <base href>, which is Airflow's base URL, so /vigil is found behind a proxy that serves
# Airflow under a path. The UI substitutes {DAG_ID}, {RUN_ID} and {TASK_ID} (URL-encoded)
# for every destination but "nav".
EXTERNAL_VIEWS: list[dict[str, Any]] = [
    {
        "name": "Vigil",
        "href": "vigil/",
        "destination": "nav",
        "url_route": "vigil",
        "nav_top_level": True,
        "icon": ICON,
        "icon_dark_mode": ICON_DARK,
    },
    {
        "name": "Vigil",
        "href": "vigil/runs/{DAG_ID}/{RUN_ID}",
        "destination": "dag_run",
        "url_route": "vigil-run",
        "icon": ICON,
        "icon_dark_mode": ICON_DARK,
    },
    {
        "name": "Vigil",
        "href": "vigil/runs/{DAG_ID}/{RUN_ID}/tasks/{TASK_ID}",
        "destination": "task_instance",
        "url_route": "vigil-task",
        "icon": ICON,
        "icon_dark_mode": ICON_DARK,
    },
]


class VigilPlugin(AirflowPlugin):
    name = "vigil"
    external_views = EXTERNAL_VIEWS

    # A property where AirflowPlugin has a list: built when the API server asks for it.
    @property
    def fastapi_apps(self) -> list[dict[str, Any]]:  # type: ignore[override]
        return [{"app": vigil_app(), "url_prefix": URL_PREFIX, "name": "Vigil"}]


@functools.cache
def vigil_app() -> "FastAPI":
    """Vigil's app behind Airflow's authentication, built once per process."""
    from fastapi import Depends

    from vigil.ui.app import create_app

    guard = guards()
    return create_app(
        results_store,
        dependencies=[Depends(guard.read)],
        current_user=guard.current_user,
        write_guard=guard.write,
        # Links to Airflow's own pages: root-relative, as the UI's are.
        airflow_base_url="",
    )


# --- the results store ---------------------------------------------------------------------


def results_store() -> "ResultStore":
    """The store named by VIGIL_UI_RESULTS_CONN_ID (default vigil_results), resolved as the
    API server's Airflow resolves connections: AIRFLOW_CONN_<ID>, then its secrets backends
    and metadata database. Never the local stack's state folder: a deployment's API server
    uses only its own configuration. Resolved once; a failure is retried on the next call."""
    return _store(os.environ.get(RESULTS_CONN_ENV) or DEFAULT_RESULTS_CONN_ID)


@functools.cache  # caches a store, never an exception
def _store(conn_id: str) -> "ResultStore":
    from vigil.cli_connections import cli_connection
    from vigil.results import ResultStore

    return ResultStore.from_connection(cli_connection(conn_id, local_stack=False))


# --- authentication and authorization (FastAPI dependencies) ---------------------------------


def environment_dag_ids(environment: str) -> list[str]:
    """The DAGs Vigil generates for an environment (vigil.airflow.factory)."""
    return [f"{environment}_{cadence}" for cadence in CADENCES]


@dataclass(frozen=True)
class Guards:
    """The dependencies `create_app` takes, made of Airflow's security dependencies."""

    # Every route: an authenticated user allowed to read DAG runs; on a run's pages (a
    # `dag_id` path parameter), the runs of that DAG. No token, or an expired one: 401; an
    # invalid token, or a user without the right: 403.
    read: Callable[..., None]
    # The name of the user making the request (recorded with a silence they create).
    current_user: Callable[..., str]
    # Creating or removing a silence in the `environment` path parameter's environment:
    # the user must be allowed to edit (PUT) each of its DAGs, as Airflow asks before
    # pausing one; 403 if not.
    write: Callable[..., None]


@functools.cache
def guards() -> Guards:
    # Imported here, not at the top: ~1.5 s that a task process (which imports plugins for
    # their macros) would pay for nothing. No `from __future__ import annotations` in this
    # module, so the functions below carry their real annotations for FastAPI.
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.batch_apis import IsAuthorizedDagRequest
    from airflow.api_fastapi.auth.managers.models.resource_details import (
        DagAccessEntity,
        DagDetails,
    )
    from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
    from airflow.models.dag import DagModel
    from fastapi import HTTPException, status

    def current_user(user: GetUserDep) -> str:
        return str(user.get_name())

    def write_guard(environment: str, user: GetUserDep) -> None:
        dag_ids = environment_dag_ids(environment)
        teams = DagModel.get_dag_id_to_team_name_mapping(dag_ids)
        requests: list[IsAuthorizedDagRequest] = [
            {"method": "PUT", "details": DagDetails(id=dag_id, team_name=teams.get(dag_id))}
            for dag_id in dag_ids
        ]
        if not get_auth_manager().batch_is_authorized_dag(requests, user=user):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"{user.get_name()} may not change the silences of {environment!r}: that "
                f"needs the right to edit its DAGs ({', '.join(dag_ids)})",
            )

    return Guards(
        read=requires_access_dag(method="GET", access_entity=DagAccessEntity.RUN),
        current_user=current_user,
        write=write_guard,
    )
