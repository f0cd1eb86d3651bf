"""Vigil's broken specs, as this file's import error (the good specs' DAGs are in
vigil_dags*.py).

(The words "airflow" and "DAG" above let Airflow's safe-mode parser pick this file up.)
"""

from vigil.airflow.factory import raise_broken_specs

raise_broken_specs()
