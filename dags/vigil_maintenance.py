"""Vigil's maintenance DAG, `vigil_maintenance`: retention of the results stores, daily.

(The words "airflow" and "DAG" above let Airflow's safe-mode parser pick this file up.)
"""

from vigil.airflow.maintenance import build_maintenance_dag

build_maintenance_dag(globals())
