"""Resolve a spec's conn_id through Airflow's own connections (UI, env, secrets backends).

Two lookups, because Airflow 3 has two:
- `airflow_connection`, inside a task: the Task SDK's, which asks the API server (so the
  metadata database too), the environment and secrets backends;
- `metadata_connection`, for commands a person runs outside any task (`vigil
  snapshot-schema`, `vigil results`): Airflow core's, as `airflow connections get` does —
  secrets backends, `AIRFLOW_CONN_<ID>`, then the metadata database directly (connections
  added in the UI, the REST API or `airflow connections add`). The Task SDK's lookup,
  called outside a task, never reaches the metadata database.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any

from vigil.context import ConfigError, ConnectionInfo


def airflow_connection(conn_id: str) -> ConnectionInfo:
    from airflow.sdk import BaseHook

    try:
        conn = BaseHook.get_connection(conn_id)
    except Exception as exc:  # Airflow raises its own NotFound types across versions
        raise ConfigError(f"Airflow connection {conn_id!r} is not defined: {exc}") from exc
    return _info(conn_id, conn)


def metadata_connection(conn_id: str) -> ConnectionInfo:
    """`conn_id` as Airflow's CLI finds it outside a task (see the module docstring), with
    the metadata database of this process's Airflow configuration (AIRFLOW_HOME,
    AIRFLOW__DATABASE__SQL_ALCHEMY_CONN). Airflow's log lines go to stderr, so a command
    whose stdout is data (a YAML snapshot) stays clean."""
    try:
        with contextlib.redirect_stdout(sys.stderr):
            from airflow.models.connection import Connection

            conn = Connection.get_connection_from_secrets(conn_id)
    except Exception as exc:  # not found, or a metadata database Airflow cannot read
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"Airflow has no connection {conn_id!r} ({first})") from exc
    return _info(conn_id, conn)


def _info(conn_id: str, conn: Any) -> ConnectionInfo:
    return ConnectionInfo(
        conn_id=conn_id,
        conn_type=conn.conn_type or "",
        host=conn.host or "",
        port=conn.port,
        login=conn.login or "",
        password=conn.password or "",
        schema=conn.schema or "",
        extra=conn.extra_dejson or {},
    )
