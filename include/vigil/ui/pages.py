"""The HTML pages: overview, environment, check, alerts (with the silence forms), the
DAG-run tab and the task-instance tab; server-rendered, no script but the theme's."""

# No `from __future__ import annotations`: FastAPI reads these signatures' annotations,
# and the dependencies they name are local to `router`.

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from vigil import families
from vigil.alerts.silences import SilenceError
from vigil.results import ResultStore
from vigil.ui import alerts, data, links, overview, render, views
from vigil.ui.deps import Settings, same_origin

MAX_STRIP = 200


def router(settings: Settings, user: Callable[..., str], guard: Callable[..., Any]) -> APIRouter:
    pages = APIRouter(include_in_schema=False)
    _browse_routes(pages, settings)
    _alert_routes(pages, settings, user, guard)
    _run_routes(pages, settings)
    return pages


def _page(
    settings: Settings, request: Request, template: str, status: int = 200, **context: Any
) -> HTMLResponse:
    theme = request.query_params.get("theme")
    html = render.render(
        template,
        u=render.Urls.of(request, settings.airflow),
        theme=theme if theme in render.THEMES else None,
        now=settings.now(),
        **context,
    )
    return HTMLResponse(html, status_code=status, headers=render.HEADERS)


def _browse_routes(pages: APIRouter, settings: Settings) -> None:
    Store = Annotated[ResultStore, Depends(settings.open_store)]

    @pages.get("/", response_class=HTMLResponse)
    def overview_page(request: Request, store: Store) -> HTMLResponse:
        view = overview.build(store, settings.read_specs(), settings.now())
        return _page(settings, request, "overview.html", title="Overview", view=view)

    @pages.get("/environments/{environment}", response_class=HTMLResponse)
    def environment_page(
        request: Request,
        store: Store,
        environment: str,
        days: Annotated[int, Query(ge=1, le=views.MAX_DAYS)] = 7,
    ) -> HTMLResponse:
        specs = settings.read_specs()
        view = views.environment_view(
            store, environment, specs.get(environment), days, settings.now()
        )
        known = view.latest is not None or environment in specs
        alert_view = alerts.build(store, specs, environment, settings.now())
        return _page(
            settings,
            request,
            "environment.html",
            200 if known else 404,
            title=environment,
            view=view,
            alerts=alert_view,
            day_choices=(7, 14, 30, 90),
        )

    @pages.get("/environments/{environment}/checks/{check_id:path}", response_class=HTMLResponse)
    def check_page(
        request: Request,
        store: Store,
        environment: str,
        check_id: str,
        last: Annotated[int, Query(ge=1, le=MAX_STRIP)] = 60,
    ) -> HTMLResponse:
        spec = settings.read_specs().get(environment)
        view = views.check_view(store, environment, check_id, spec, last, settings.now())
        docs = None
        if view.latest is not None:
            ref = view.latest
            if views.local_data_docs(environment, ref.dag_id, ref.run_id) and _quality(ref):
                docs = render.Urls.of(request, settings.airflow).data_docs(ref.dag_id, ref.run_id)
        return _page(
            settings,
            request,
            "check.html",
            200 if view.latest else 404,
            title=check_id,
            view=view,
            local_docs=docs,
        )

    @pages.get("/api/docs", response_class=HTMLResponse)
    def api_docs(request: Request) -> HTMLResponse:
        schema = request.app.openapi()
        operations = [
            (method.upper(), path, op)
            for path, methods in schema.get("paths", {}).items()
            for method, op in methods.items()
        ]
        return _page(settings, request, "api_docs.html", title="JSON API", operations=operations)


def _alert_routes(
    pages: APIRouter, settings: Settings, user: Callable[..., str], guard: Callable[..., Any]
) -> None:
    Store = Annotated[ResultStore, Depends(settings.open_store)]
    User = Annotated[str, Depends(user)]

    @pages.get("/alerts", response_class=HTMLResponse)
    def alerts_page(
        request: Request,
        store: Store,
        environment: str | None = None,
        made: int | None = None,
        removed: int | None = None,
        error: str | None = None,
    ) -> HTMLResponse:
        specs = settings.read_specs()
        view = alerts.build(store, specs, environment or None, settings.now())
        envs = sorted(
            {*specs, *data.environments(store), *(a.row.environment for a in view.alerts)}
            | ({environment} if environment else set())
        )
        return _page(
            settings,
            request,
            "alerts.html",
            title="Alerts",
            view=view,
            environments=envs,
            made=made,
            removed=removed,
            error=(error or "")[:500],
        )

    @pages.post(
        "/environments/{environment}/silences",
        dependencies=[Depends(same_origin), Depends(guard)],
    )
    def add_silence_form(
        request: Request,
        store: Store,
        environment: str,
        who: User,
        scope: Annotated[str, Form()] = "",
        duration: Annotated[str, Form()] = "2h",
        reason: Annotated[str, Form()] = "",
        back: Annotated[str, Form()] = "",
    ) -> Response:
        try:
            made = alerts.create(
                store, environment, scope=scope, duration=duration, reason=reason, user=who
            )
        except SilenceError as exc:
            return _back(request, back, error=f"Silence not made: {exc}")
        return _back(request, back, made=made.id)

    @pages.post(
        "/environments/{environment}/silences/{name}/remove",
        dependencies=[Depends(same_origin), Depends(guard)],
    )
    def remove_silence_form(
        request: Request,
        store: Store,
        environment: str,
        name: str,
        who: User,
        back: Annotated[str, Form()] = "",
    ) -> Response:
        try:
            removed = alerts.remove(store, environment, name, user=who)
        except SilenceError as exc:
            return _back(request, back, error=f"Silence not removed: {exc}")
        return _back(request, back, removed=removed.id)


def _run_routes(pages: APIRouter, settings: Settings) -> None:
    Store = Annotated[ResultStore, Depends(settings.open_store)]

    @pages.get("/runs/{dag_id}/{run_id}/tasks/{task_id}", response_class=HTMLResponse)
    def task_page(
        request: Request, store: Store, dag_id: str, run_id: str, task_id: str
    ) -> HTMLResponse:
        summary = views.find_run(store, dag_id, run_id)
        split = views.split_task(task_id, dict.fromkeys(families.names()))
        view = None
        if summary is not None and split is not None:
            family, name = split
            if families.get(family).task_per_check:  # `scenarios.<check id>`
                view = views.run_view(store, summary, family=family, check=name)
            else:
                view = views.run_view(store, summary, family=family, target=name)
        return _page(
            settings,
            request,
            "task.html",
            200 if summary is not None else 404,
            title=f"{task_id} · {run_id}",
            dag_id=dag_id,
            run_id=run_id,
            task_id=task_id,
            summary=summary,
            split=split,
            view=view,
        )

    @pages.get("/runs/{dag_id}/{run_id}/data-docs/{path:path}")
    def data_docs(store: Store, dag_id: str, run_id: str, path: str) -> Response:
        """The run's Data Docs site, when this server shares the state folder with the
        quality tasks that built it."""
        summary = views.find_run(store, dag_id, run_id)
        index = views.local_data_docs(summary.ref.environment, dag_id, run_id) if summary else None
        if index is None:
            raise HTTPException(404, "this run has no Data Docs on this server")
        root = index.parent.resolve()
        found = (root / (path or "index.html")).resolve()
        if not found.is_relative_to(root) or not found.is_file():
            raise HTTPException(404, f"no {path!r} in this run's Data Docs")
        return FileResponse(found, headers={"X-Content-Type-Options": "nosniff"})

    @pages.get("/runs/{dag_id}/{run_id:path}", response_class=HTMLResponse)
    def run_page(request: Request, store: Store, dag_id: str, run_id: str) -> HTMLResponse:
        summary = views.find_run(store, dag_id, run_id)
        view = views.run_view(store, summary) if summary is not None else None
        return _page(
            settings,
            request,
            "run.html",
            200 if view is not None else 404,
            title=f"{dag_id} · {run_id}",
            dag_id=dag_id,
            run_id=run_id,
            view=view,
        )


def _quality(ref: data.StoredResult) -> bool:
    details = ref.result.details
    return ref.result.family == "quality" or "suite" in details or "expectation_type" in details


def _back(request: Request, back: str, **query: str | int | None) -> RedirectResponse:
    """303 to the alerts page (of the environment the form was on), relative to this
    request's URL, so it works under any prefix."""
    env = back.removeprefix("environment=") if back.startswith("environment=") else None
    target = f"{links.to_root(request)}alerts{links.query(environment=env, **query)}"
    return RedirectResponse(target, status_code=303)
