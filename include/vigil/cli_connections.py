"""How the commands a person runs find a connection: `vigil results`, `report`, `silence`
(the results store) and `vigil snapshot-schema` (a target database).

In this order, the first that has it:
1. `AIRFLOW_CONN_<ID>` in the environment (a URI or JSON, as Airflow reads it; fast: no
   Airflow import);
2. Airflow's own lookup, when Airflow is configured in this shell (AIRFLOW_HOME,
   AIRFLOW_CONFIG or AIRFLOW__DATABASE__SQL_ALCHEMY_CONN set, or ~/airflow/airflow.cfg):
   its secrets backends and its metadata database, so a connection added in the Airflow UI,
   through the REST API or with `airflow connections add` is found, as the tasks find it
   (`vigil.airflow.connections.metadata_connection`; ~3-5 s for Airflow's import);
3. the local stack `make demo` started from this checkout (its state folder), which gives
   its Airflow `vigil_results` and `vigil_demo_db`: after `make demo`, `vigil results
   --latest demo` needs no setup.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from vigil.context import ConfigError, ConnectionInfo, env_connection


def cli_connection(
    conn_id: str, environ: Mapping[str, str] | None = None, *, local_stack: bool = True
) -> ConnectionInfo:
    """`conn_id` from the first source above that has it; a ConfigError naming each place
    looked in when none has. `vigil run` passes `local_stack=False`: a pipeline gate uses
    only what its own environment and Airflow configuration say."""
    environ = os.environ if environ is None else environ
    var = f"AIRFLOW_CONN_{conn_id.upper()}"
    if environ.get(var):
        return env_connection(conn_id, environ)
    looked = [var]
    if airflow_configured(environ):
        from vigil.airflow.connections import metadata_connection

        try:
            return metadata_connection(conn_id)
        except ConfigError as exc:
            looked.append(f"Airflow: {exc}")
    else:
        looked.append("Airflow: not configured in this shell (no AIRFLOW_HOME)")
    found = _local_stack(conn_id, environ) if local_stack else None
    if found is not None:
        return found
    # The fix is part of the message: `vigil` prints a ConfigError's message alone.
    raise ConfigError(
        f"connection {conn_id!r} is not defined (looked in: {'; '.join(looked)}): set {var} "
        "(a URI such as postgresql://user:pass@host:5432/db), or add it in the Airflow that "
        "AIRFLOW_HOME points to"
    )


def airflow_configured(environ: Mapping[str, str]) -> bool:
    """Whether Airflow has a configuration here to read connections from. Without one,
    importing Airflow would create ~/airflow/airflow.cfg and an empty SQLite database."""
    if any(environ.get(k) for k in _AIRFLOW_SETTINGS):
        return True
    return (Path.home() / "airflow" / "airflow.cfg").is_file()


_AIRFLOW_SETTINGS = ("AIRFLOW_HOME", "AIRFLOW_CONFIG", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")


def _local_stack(conn_id: str, environ: Mapping[str, str]) -> ConnectionInfo | None:
    """The connection the local stack gives its Airflow, when this checkout started one
    (its ports file exists) and the stack defines `conn_id`."""
    from vigil.stack.state import Ports, StackPaths

    paths = StackPaths.from_env(environ)
    ports = Ports.saved(paths)
    if ports is None or not paths.secrets_file.exists():
        return None
    from vigil.stack.airflow import airflow_env

    stack_env = airflow_env(paths, ports)
    if not stack_env.get(f"AIRFLOW_CONN_{conn_id.upper()}"):
        return None
    return env_connection(conn_id, stack_env)
