-- 0001: runs and their check results.
--
-- Room left for later migrations (not built here):
--   0002 alert state: vigil.alert_state (rule_id, environment, group key, state
--        firing|resolved, since, last_notified_at, last_run FK -> runs ON DELETE SET NULL).
--   0003 probe metrics: vigil.probe_metrics (check_result FK -> check_results.id ON DELETE
--        CASCADE, metric, value, unit), which is why check_results has a surrogate id.
-- Every object lives in schema vigil, created by the migrator before this file runs.

CREATE TABLE vigil.runs (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    environment       text        NOT NULL,
    cadence           text        NOT NULL,
    dag_id            text        NOT NULL,
    run_id            text        NOT NULL,
    started_at        timestamptz NOT NULL DEFAULT now(),
    ended_at          timestamptz,
    state             text        NOT NULL DEFAULT 'running'
                                  CHECK (state IN ('running', 'success', 'failed')),
    dry_run           boolean     NOT NULL DEFAULT false,
    -- Counts are derived from check_results (recomputed on every write), never incremented,
    -- so a retried task that re-records its checks cannot count twice.
    total             integer     NOT NULL DEFAULT 0,
    passed            integer     NOT NULL DEFAULT 0,
    failed            integer     NOT NULL DEFAULT 0,
    error             integer     NOT NULL DEFAULT 0,
    skipped           integer     NOT NULL DEFAULT 0,
    critical_problems integer     NOT NULL DEFAULT 0,
    params            jsonb       NOT NULL DEFAULT '{}'::jsonb,
    -- An Airflow run is named by (dag_id, run_id); retries of its tasks land on this row.
    CONSTRAINT runs_dag_run_key UNIQUE (dag_id, run_id)
);

-- Serves recent_runs (newest runs of an environment) and failure_rate(last_runs=N), which
-- first picks the environment's N newest runs.
CREATE INDEX runs_env_started_idx ON vigil.runs (environment, started_at DESC, id DESC);

CREATE TABLE vigil.check_results (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run         bigint           NOT NULL REFERENCES vigil.runs (id) ON DELETE CASCADE,
    -- Copied from the run: every history query filters on it, and keeping it here lets one
    -- index answer them without a join. A run's environment never changes.
    environment text             NOT NULL,
    check_id    text             NOT NULL,
    kind        text             NOT NULL,
    target      text             NOT NULL,
    status      text             NOT NULL CHECK (status IN ('passed', 'failed', 'error', 'skipped')),
    severity    text             NOT NULL CHECK (severity IN ('critical', 'warning')),
    started_at  timestamptz      NOT NULL,
    duration_ms double precision NOT NULL DEFAULT 0,
    observed    jsonb,
    expected    jsonb,
    message     text             NOT NULL DEFAULT '',
    details     jsonb            NOT NULL DEFAULT '{}'::jsonb,
    recorded_at timestamptz      NOT NULL DEFAULT now(),
    -- One result per check per run: a retried task replaces its results (upsert on this key).
    -- Its index also serves run_results / results_of and failure_rate(last_runs=N), which
    -- read the results of given runs.
    CONSTRAINT check_results_run_check_key UNIQUE (run, check_id)
);

-- Serves latest_results (a skip scan over check_id, then the newest row of each) and
-- check_history (one check's rows newest first, cut by LIMIT N or started_at >= T).
CREATE INDEX check_results_env_check_started_idx
    ON vigil.check_results (environment, check_id, started_at DESC, id DESC);

-- Serves failure_rate(since=T): the environment's results in a time window, grouped by
-- kind/target; INCLUDE makes it an index-only scan once the table is vacuumed.
CREATE INDEX check_results_env_started_idx
    ON vigil.check_results (environment, started_at)
    INCLUDE (kind, target, status, severity);
