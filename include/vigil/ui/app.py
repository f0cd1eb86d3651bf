"""create_app: Vigil's pages and JSON API as one FastAPI app, framework-neutral.

The Airflow seam (vigil.airflow) mounts it as a plugin and passes Airflow's own
authentication as `dependencies`, the logged-in user as `current_user` and the
permission to act on an environment's DAGs as `write_guard`; nothing here imports Airflow.

Every route, the OpenAPI document included, runs the `dependencies`. Every link is
relative, so the app works under any mount prefix and behind a proxy. A results store
that cannot be reached answers 503 with what failed, never a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException

from vigil.alerts.silences import SilenceError
from vigil.reports.data import ReportError
from vigil.results import ResultStore, StoreError
from vigil.ui import alerts, api, links, pages, render
from vigil.ui.deps import Settings
from vigil.ui.specs import SpecsFolder, SpecSource

log = logging.getLogger(__name__)

TITLE = "Vigil"
DESCRIPTION = (
    "Vigil's validation results, alerts and silences, read from its results store: "
    "environments and their health, runs and their results, one check's history, failure "
    "rates over a window, alerts with their timeline, and silences (made and removed by "
    "the logged-in user)."
)


def anonymous() -> str:
    return "anonymous"


def no_guard() -> None:
    return None


def create_app(
    store: Callable[[], ResultStore],
    *,
    dependencies: Sequence[Any] = (),
    current_user: Callable[..., str] | None = None,
    write_guard: Callable[..., Any] | None = None,
    airflow_base_url: str | None = None,
    specs: SpecSource | None = None,
) -> FastAPI:
    """The app. `store` opens the results store (called per request); `dependencies`
    (FastAPI `Depends(...)`) run on every route; `current_user` names who makes or
    removes a silence (default "anonymous"); `write_guard` runs on those writes and may
    take the path parameter `environment` (raise HTTPException(403) to refuse);
    `airflow_base_url` is where links to Airflow's run and task pages go ("" or None:
    this site's root); `specs` gives the specs by environment (default: the specs folder,
    re-read at most once a minute) for thresholds, time zones and environments not run yet.
    """
    settings = Settings(
        store=store,
        specs=specs if specs is not None else SpecsFolder(),
        airflow=links.airflow_base(airflow_base_url),
    )
    user = current_user or anonymous
    guard = write_guard or no_guard
    app = FastAPI(
        title=TITLE,
        description=DESCRIPTION,
        version="1",
        dependencies=list(dependencies),
        # The document is served by a route of our own below, so it runs the app's
        # dependencies like every other route (FastAPI's own would not).
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.include_router(api.router(settings, user, guard))
    app.include_router(pages.router(settings, user, guard))

    @app.get("/api/openapi.json", include_in_schema=False)
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    _handlers(app)
    return app


def _wants_json(request: Request) -> bool:
    path = str(request.scope.get("path") or "")
    root = str(request.scope.get("root_path") or "")
    if root and path.startswith(root):
        path = path[len(root) :]
    return path.startswith("/api/") and path != "/api/docs"


def _error(request: Request, status: int, title: str, message: str) -> Response:
    if _wants_json(request):
        return JSONResponse({"detail": message}, status_code=status)
    html = render.render(
        "error.html",
        u=render.Urls.of(request, ""),
        theme=None,
        title=title,
        heading=title,
        message=message,
        status=status,
    )
    return HTMLResponse(html, status_code=status, headers=render.HEADERS)


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(StoreError)
    def store_unreachable(request: Request, exc: StoreError) -> Response:
        log.warning("Vigil UI: results store unreachable: %s", exc)
        return _error(
            request,
            503,
            "Results store unreachable",
            f"Vigil cannot read its results store right now: {exc}",
        )

    @app.exception_handler(alerts.UnknownSilence)
    def unknown_silence(request: Request, exc: alerts.UnknownSilence) -> Response:
        return _error(request, 404, "No such silence", str(exc))

    @app.exception_handler(alerts.NotInEnvironment)
    def other_environment(request: Request, exc: alerts.NotInEnvironment) -> Response:
        return _error(request, 409, "Silence of another environment", str(exc))

    @app.exception_handler(SilenceError)
    def bad_silence(request: Request, exc: SilenceError) -> Response:
        return _error(request, 422, "Silence refused", str(exc))

    @app.exception_handler(ReportError)
    def bad_request(request: Request, exc: ReportError) -> Response:
        return _error(request, 400, "Cannot show this", str(exc))

    @app.exception_handler(HTTPException)
    def http_error(request: Request, exc: HTTPException) -> Response:
        if _wants_json(request) or exc.status_code in (401, 403) or exc.headers:
            # Authentication and permission answers stay as the dependency made them
            # (their headers, e.g. WWW-Authenticate, included).
            return JSONResponse(
                {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
            )
        return _error(request, exc.status_code, "Not found" if exc.status_code == 404 else
                      "Cannot show this", str(exc.detail))  # fmt: skip
