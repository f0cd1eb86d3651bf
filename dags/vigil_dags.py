"""Vigil's DAGs: `<env>_daily`, `<env>_weekly`, `<env>_monthly` for every spec in include/specs.

(The words "airflow" and "DAG" above let Airflow's safe-mode parser pick this file up.)
"""

from vigil.airflow.factory import build_dags

build_dags(globals())
