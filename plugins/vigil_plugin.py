"""Vigil's pages in the Airflow UI: the plugin lives in vigil.airflow.ui_plugin.

Airflow loads every module of this folder and registers the AirflowPlugin classes it
finds in it; this file only names Vigil's (as the files in dags/ only call the factory).
"""

from vigil.airflow.ui_plugin import VigilPlugin

__all__ = ["VigilPlugin"]
