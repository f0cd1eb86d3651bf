"""Resolve a spec's conn_id through Airflow's own connections (UI, env, secrets backends)."""

from __future__ import annotations

from vigil.context import ConfigError, ConnectionInfo


def airflow_connection(conn_id: str) -> ConnectionInfo:
    from airflow.sdk import BaseHook

    try:
        conn = BaseHook.get_connection(conn_id)
    except Exception as exc:  # Airflow raises its own NotFound types across versions
        raise ConfigError(f"Airflow connection {conn_id!r} is not defined: {exc}") from exc
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
