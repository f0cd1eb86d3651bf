"""Links: between Vigil's pages (relative, so the app works under any mount prefix and
behind a proxy) and out to Airflow's own pages of a run and a task instance."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from starlette.requests import Request

# Airflow's pages of a run and a task instance, and path segments encoded as its UI
# encodes them: the reports' links, one definition for both.
from vigil.reports.links import dag_run_url as dag_run
from vigil.reports.links import segment, task_of
from vigil.reports.links import task_url as task_instance

__all__ = ["airflow_base", "dag_run", "query", "segment", "task_instance", "task_of", "to_root"]


def to_root(request: Request) -> str:
    """The relative reference from this request's URL to the app's root ("./", "../",
    ...): one level per '/' of the path below the mount point, where an encoded '/'
    inside a segment (a run id, a check id) is no level."""
    path = str(request.scope.get("path") or "/")
    root = str(request.scope.get("root_path") or "")
    if root and path.startswith(root):
        path = path[len(root) :]
    raw = request.scope.get("raw_path")
    encoded_slashes = raw.lower().count(b"%2f") if isinstance(raw, bytes) else 0
    depth = max(path.count("/") - 1 - encoded_slashes, 0)
    return "../" * depth or "./"


def query(**params: str | int | None) -> str:
    shown = {k: v for k, v in params.items() if v is not None and v != ""}
    return f"?{urlencode(shown)}" if shown else ""


def airflow_base(url: str | None) -> str:
    """Where Airflow's UI is: "" (this site's root: links like /dags/...), a path prefix
    ("/airflow"), an http(s) URL, or a path relative to the app's mount point (".." when
    the app is mounted one level below Airflow's root: links then work behind a proxy
    that serves Airflow under any base path); anything else is refused."""
    if url is None or url.strip() == "":
        return ""
    url = url.strip().rstrip("/")
    if url and all(part in (".", "..") for part in url.split("/")):
        return url
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        return url
    if not parts.scheme and not parts.netloc and url.startswith("/") and not url.startswith("//"):
        return url
    raise ValueError(
        f"airflow_base_url must be an http(s) URL or a path such as /airflow, got {url!r}"
    )
