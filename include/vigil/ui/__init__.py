"""Vigil's pages and JSON API (FastAPI), read from the results store; mounted inside the
Airflow UI by vigil.airflow's plugin, and usable on their own.

`create_app(store, dependencies=..., current_user=..., write_guard=...)` builds the app;
nothing here imports Airflow.
"""

from vigil.ui.app import create_app

__all__ = ["create_app"]
