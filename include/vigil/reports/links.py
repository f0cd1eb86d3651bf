"""Links out of a report: Airflow 3 UI pages of a run and its tasks, and the Data Docs."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote, urlsplit

from vigil import families
from vigil.reports.data import ReportError
from vigil.result import CheckResult


def segment(value: str) -> str:
    # Run ids hold ':' and '+' (scheduled__2025-01-01T06:00:00+00:00): encode them the way
    # the UI's own links do (encodeURIComponent), or '+' would read back as a space.
    return quote(value, safe="")


def airflow_base(url: str | None) -> str | None:
    """The UI's base URL, checked: only http(s) may become a link in the report."""
    if url is None or url.strip() == "":
        return None
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ReportError(
            f"airflow_base_url must be an http(s) URL such as http://127.0.0.1:8080, got {url!r}"
        )
    return url.strip().rstrip("/")


def dag_run_url(base: str, dag_id: str, run_id: str) -> str:
    return f"{base}/dags/{segment(dag_id)}/runs/{segment(run_id)}"


def task_url(base: str, dag_id: str, run_id: str, task_id: str) -> str:
    """Airflow 3 UI page of one task instance (its logs): tasks are `<family>.<target>`."""
    return f"{dag_run_url(base, dag_id, run_id)}/tasks/{segment(task_id)}"


def task_id(family: str, target: str) -> str:
    """The factory's task id: one task per target, in a task group per family."""
    return f"{family}.{target}"


def task_name(result: CheckResult) -> str:
    """The task inside its family's group that recorded `result`: its target's, or for a
    family with a task per check (scenarios) its spec check's."""
    try:
        per_check = families.get(result.family).task_per_check
    except KeyError:  # a family no longer registered: rows of an older Vigil
        per_check = False
    return result.spec_check if per_check else result.target


def task_of(result: CheckResult) -> str:
    """The Airflow task id that recorded `result`."""
    return task_id(result.family, task_name(result))


def data_docs_url(location: str | None) -> str | None:
    """An http(s) or file URL as given; a local path becomes a file:// URL."""
    if location is None or location.strip() == "":
        return None
    location = location.strip()
    scheme = urlsplit(location).scheme
    if scheme in ("http", "https", "file"):
        return location
    if scheme == "":
        return Path(location).expanduser().resolve().as_uri()
    raise ReportError(
        f"data_docs must be an http(s) URL, a file:// URL or a local path, got {location!r}"
    )
