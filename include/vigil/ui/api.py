"""The JSON API under /api: what the pages show, for other tools too. It reads only the
results store; its two writes make and remove a silence, guarded by the app's write_guard.
"""

# No `from __future__ import annotations`: FastAPI reads these signatures' annotations,
# and the dependencies they name are local to `router`.

from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query

from vigil.results import ResultStore
from vigil.results.queries import GROUPABLE
from vigil.ui import alerts, data, overview, schemas, views
from vigil.ui.deps import Settings

MAX_HISTORY = 500


Env = Annotated[str, Path(description="an environment, as its spec names it")]


def router(settings: Settings, user: Callable[..., str], guard: Callable[..., Any]) -> APIRouter:
    api = APIRouter(prefix="/api", tags=["vigil"])
    _result_routes(api, settings)
    _check_routes(api, settings)
    _alert_routes(api, settings)
    _silence_routes(api, settings, user, guard)
    return api


def _result_routes(api: APIRouter, settings: Settings) -> None:
    Store = Annotated[ResultStore, Depends(settings.open_store)]

    @api.get("/environments", response_model=schemas.OverviewOut)
    def environments(store: Store) -> schemas.OverviewOut:
        """Every environment with its overview figures: per family, the latest run's
        state, pass rates over 7 and 30 days, failure rate against the rules'
        thresholds; open alerts; and one sentence saying all is healthy or what is not."""
        return schemas.overview(overview.build(store, settings.read_specs(), settings.now()))

    @api.get("/environments/{environment}/runs", response_model=schemas.RunsOut)
    def runs(
        store: Store, environment: Env, limit: Annotated[int, Query(ge=1, le=200)] = 20
    ) -> schemas.RunsOut:
        """The environment's newest runs, newest first."""
        found = store.recent_runs(environment, limit)
        return schemas.RunsOut(environment=environment, runs=[schemas.run(r) for r in found])

    @api.get("/runs/{dag_id}/{run_id}/results", response_model=schemas.RunResultsOut)
    def run_results(
        store: Store,
        dag_id: str,
        run_id: str,
        family: str | None = None,
        target: str | None = None,
    ) -> schemas.RunResultsOut:
        """One run's results, by check id (optionally of one family and target)."""
        summary = views.find_run(store, dag_id, run_id)
        if summary is None:
            raise HTTPException(404, f"run {dag_id}/{run_id} is not in the results store")
        targets = [target] if target is not None else None
        results = store.results_of(summary.ref, family=family, targets=targets)
        return schemas.RunResultsOut(
            run=schemas.run(summary), results=[schemas.result(r) for r in results]
        )


def _check_routes(api: APIRouter, settings: Settings) -> None:
    Store = Annotated[ResultStore, Depends(settings.open_store)]

    @api.get(
        "/environments/{environment}/checks/{check_id:path}",
        response_model=schemas.CheckHistoryOut,
    )
    def check_history(
        store: Store,
        environment: Env,
        check_id: str,
        limit: Annotated[int, Query(ge=1, le=MAX_HISTORY)] = 60,
    ) -> schemas.CheckHistoryOut:
        """One check's history, newest first, and its latest result with its evidence."""
        latest = data.latest_result(store, environment, check_id)
        if latest is None:
            raise HTTPException(404, f"no result of check {check_id!r} in {environment!r}")
        history = data.check_history(store, environment, check_id, limit)
        return schemas.CheckHistoryOut(
            environment=environment,
            check_id=check_id,
            latest=schemas.result(latest.result),
            latest_dag_id=latest.dag_id,
            latest_run_id=latest.run_id,
            history=[schemas.history(h) for h in history],
        )

    @api.get("/environments/{environment}/failure-rates", response_model=schemas.FailureRatesOut)
    def failure_rates(
        store: Store,
        environment: Env,
        days: Annotated[int | None, Query(ge=1, le=366)] = None,
        last_runs: Annotated[int | None, Query(ge=1, le=1000)] = None,
        by: Annotated[str, Query(description=f"comma-separated: {', '.join(GROUPABLE)}")] = (
            "family,target"
        ),
    ) -> schemas.FailureRatesOut:
        """Failed + errored among the checks that ran, per group, highest first, over the
        last `days` and/or the last `last_runs` runs (default: 7 days)."""
        keys = [k.strip() for k in by.split(",") if k.strip()]
        unknown = [k for k in keys if k not in GROUPABLE]
        if unknown:
            raise HTTPException(422, f"cannot group by {unknown}; choose from {list(GROUPABLE)}")
        if days is None and last_runs is None:
            days = 7
        since = timedelta(days=days) if days is not None else None
        rates = store.failure_rate(environment, last_runs=last_runs, since=since, by=keys)
        shown = [f"last {days} days"] if days else []
        shown += [f"last {last_runs} runs"] if last_runs else []
        return schemas.FailureRatesOut(
            environment=environment,
            window=" and ".join(shown),
            by=keys,
            rates=[schemas.failure_rate(r) for r in rates],
        )


def _alert_routes(api: APIRouter, settings: Settings) -> None:
    Store = Annotated[ResultStore, Depends(settings.open_store)]

    def _alerts(store: ResultStore, environment: str | None) -> schemas.AlertsOut:
        view = alerts.build(store, settings.read_specs(), environment, settings.now())
        groups = {
            g: [schemas.alert(a) for a in view.group(g)]
            for g in ("firing", "silenced", "pending", "resolved")
        }
        return schemas.AlertsOut(environment=environment, **groups)

    @api.get("/alerts", response_model=schemas.AlertsOut)
    def all_alerts(store: Store, environment: str | None = None) -> schemas.AlertsOut:
        """Firing, silenced, pending and resolved (last 30 days) alerts, each with its
        timeline, newest first."""
        return _alerts(store, environment)

    @api.get("/environments/{environment}/alerts", response_model=schemas.AlertsOut)
    def environment_alerts(store: Store, environment: Env) -> schemas.AlertsOut:
        """The environment's alerts, as /api/alerts?environment= gives them."""
        return _alerts(store, environment)

    @api.get("/silences", response_model=schemas.SilencesOut)
    def silences(store: Store, include_past: bool = False) -> schemas.SilencesOut:
        """Silences in force (and with include_past, those over or removed in the last
        30 days)."""
        return _silences(store, None, include_past)

    @api.get("/environments/{environment}/silences", response_model=schemas.SilencesOut)
    def environment_silences(
        store: Store, environment: Env, include_past: bool = False
    ) -> schemas.SilencesOut:
        """Silences that can hold back the environment's alerts."""
        return _silences(store, environment, include_past)

    def _silences(
        store: ResultStore, environment: str | None, include_past: bool
    ) -> schemas.SilencesOut:
        now = settings.now()
        view = alerts.build(store, settings.read_specs(), environment, now)
        shown = view.silences + (view.past_silences if include_past else [])
        return schemas.SilencesOut(
            environment=environment, silences=[schemas.silence(s, now) for s in shown]
        )


def _silence_routes(
    api: APIRouter, settings: Settings, user: Callable[..., str], guard: Callable[..., Any]
) -> None:
    Store = Annotated[ResultStore, Depends(settings.open_store)]
    User = Annotated[str, Depends(user)]

    @api.post(
        "/environments/{environment}/silences",
        response_model=schemas.SilenceOut,
        status_code=201,
        dependencies=[Depends(guard)],
    )
    def add_silence(
        store: Store, environment: Env, body: schemas.SilenceIn, who: User
    ) -> schemas.SilenceOut:
        """Silence the environment's alerts matching `scope` for `duration`, recorded with
        the logged-in user's name. Silenced alerts are recorded, not sent."""
        made = alerts.create(
            store,
            environment,
            scope=body.scope,
            duration=body.duration,
            reason=body.reason,
            user=who,
        )
        return schemas.silence(made, settings.now())

    @api.delete(
        "/environments/{environment}/silences/{name}",
        response_model=schemas.SilenceOut,
        dependencies=[Depends(guard)],
    )
    def remove_silence(
        store: Store,
        environment: Env,
        name: Annotated[str, Path(description="the silence's number")],
        who: User,
    ) -> schemas.SilenceOut:
        """Remove a silence made for this environment (its row stays, with who removed it)."""
        removed = alerts.remove(store, environment, name, user=who)
        return schemas.silence(removed, settings.now())
