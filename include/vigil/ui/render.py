"""The pages' Jinja2 environment (autoescape on, strict undefined, the reports' filters),
their URLs, and the security headers every page is sent with.

Pages load nothing from anywhere: styles are inline, charts inline SVG; two inline
scripts (allowed by their hashes) follow the Airflow UI's light or dark theme and let a
link to an Airflow page leave the sandboxed iframe.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment
from starlette.requests import Request

from vigil.reports import render as report_render
from vigil.result import CheckResult
from vigil.ui import evidence, links

TEMPLATES_DIR = Path(__file__).parent / "templates"

# The Airflow UI keeps its theme (next-themes) in localStorage["theme"]: light, dark or
# system. Pages in its iframe share the origin, so they can follow it; "system" (or no
# value) leaves it to prefers-color-scheme.
THEME_SCRIPT = (
    "try{var d=document.documentElement,t=localStorage.getItem('theme');"
    "if(!d.getAttribute('data-theme')&&(t==='dark'||t==='light'))d.setAttribute('data-theme',t)}"
    "catch(e){}"
)
# Airflow frames plugin pages in a sandbox without allow-top-navigation, so a plain
# target="_top" link to an Airflow page does nothing there. Framed, a click on such a link
# asks Airflow's own router to go there (history.pushState + popstate on the top window,
# same origin); unframed (the page opened on its own), the link works as written.
NAVIGATE_SCRIPT = (
    "document.addEventListener('click',function(e){"
    "var a=e.target.closest&&e.target.closest('a[target=_top]');"
    "if(!a||window.top===window||e.button!==0||e.ctrlKey||e.metaKey||e.shiftKey)return;"
    "try{window.top.history.pushState(null,'',a.href);"
    "window.top.dispatchEvent(new PopStateEvent('popstate'));e.preventDefault()}"
    "catch(x){}})"
)


def _hash(script: str) -> str:
    return base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()


CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    f"script-src 'sha256-{_hash(THEME_SCRIPT)}' 'sha256-{_hash(NAVIGATE_SCRIPT)}'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'self'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
THEMES = ("light", "dark")


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = report_render.templates(TEMPLATES_DIR)
    env.filters["ago"] = ago
    env.filters["task_of"] = links.task_of
    # Their hashes are in CSP: each is one string, rendered as is.
    env.globals["theme_script"] = THEME_SCRIPT
    env.globals["navigate_script"] = NAVIGATE_SCRIPT
    env.globals["blocks"] = evidence.blocks
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def ago(value: datetime | None, now: datetime | None = None) -> str:
    """How long ago, for people: "3 min ago", "5 h ago", "2 d ago"."""
    if value is None:
        return "—"
    seconds = ((now or datetime.now(UTC)) - value).total_seconds()
    if seconds < 0:
        return "in the future"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return "just now"


@dataclass(frozen=True)
class Urls:
    """Every link a page makes: Vigil's own relative to the app's root, Airflow's under
    its base (the site's root by default)."""

    root: str  # "./", "../", ... from the current page to the app's root
    airflow: str  # "" or an http(s) URL or a path prefix

    @classmethod
    def of(cls, request: Request, airflow: str) -> Urls:
        return cls(links.to_root(request), airflow)

    def overview(self) -> str:
        return self.root

    def environment(self, env: str, **query: str | int | None) -> str:
        return f"{self.root}environments/{links.segment(env)}{links.query(**query)}"

    def check(self, env: str, check_id: str) -> str:
        return f"{self.root}environments/{links.segment(env)}/checks/{links.segment(check_id)}"

    def alerts(self, env: str | None = None, **query: str | int | None) -> str:
        return f"{self.root}alerts{links.query(environment=env, **query)}"

    def run(self, dag_id: str, run_id: str) -> str:
        return f"{self.root}runs/{links.segment(dag_id)}/{links.segment(run_id)}"

    def task(self, dag_id: str, run_id: str, task_id: str) -> str:
        return f"{self.run(dag_id, run_id)}/tasks/{links.segment(task_id)}"

    def data_docs(self, dag_id: str, run_id: str) -> str:
        return f"{self.run(dag_id, run_id)}/data-docs/index.html"

    def add_silence(self, env: str) -> str:
        return f"{self.root}environments/{links.segment(env)}/silences"

    def remove_silence(self, env: str, silence_id: int) -> str:
        return f"{self.add_silence(env)}/{silence_id}/remove"

    def api_docs(self) -> str:
        return f"{self.root}api/docs"

    def openapi(self) -> str:
        return f"{self.root}api/openapi.json"

    @property
    def _airflow(self) -> str:
        """Airflow's base; one relative to the app's mount point starts from its root."""
        return self.root + self.airflow if self.airflow.startswith(".") else self.airflow

    def airflow_run(self, dag_id: str, run_id: str) -> str:
        return links.dag_run(self._airflow, dag_id, run_id)

    def airflow_task(self, dag_id: str, run_id: str, task_id: str) -> str:
        return links.task_instance(self._airflow, dag_id, run_id, task_id)

    def airflow_task_of(self, dag_id: str, run_id: str, result: CheckResult) -> str:
        """The Airflow task instance that recorded `result` (its log)."""
        return self.airflow_task(dag_id, run_id, links.task_of(result))

    def airflow_dag(self, dag_id: str) -> str:
        return f"{self._airflow}/dags/{links.segment(dag_id)}"
