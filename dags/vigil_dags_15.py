"""Vigil's DAGs: `<env>_daily`, `<env>_weekly`, `<env>_monthly` for the specs in
VIGIL_SPECS_DIR (include/specs) that hash to this file; `vigil_dags_<n>.py` hold the others.

Identical files, so that Airflow parses, times out and serialises the specs in parts
(vigil.airflow.factory). (The words "airflow" and "DAG" let Airflow's safe-mode parser
pick this file up.)
"""

from vigil.airflow.factory import build_dags

build_dags(globals())
