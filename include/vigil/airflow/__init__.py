"""The Airflow seam: the only place in `vigil` that imports Airflow."""
