-- 0008: daily rollups, so raw results can be pruned without losing the long history.
--
-- vigil.retention (run daily by the vigil_maintenance DAG) rolls every complete day up
-- into vigil.daily_rollups, then deletes raw runs (their check_results, run_families and
-- probe_figures go with them by ON DELETE CASCADE; alerts keep their rows, their run
-- links set to NULL) older than the raw retention, then rollups older than theirs.
--
-- A day is the UTC day its *run* started, as the reports count it: a run's checks stay in
-- the day it started even when some of them finish after midnight, and the run is the unit
-- pruning deletes, so a day's rollup and a day's deleted rows are the same rows.

CREATE TABLE vigil.daily_rollups (
    day               date             NOT NULL,
    environment       text             NOT NULL,
    family            text             NOT NULL,
    target            text             NOT NULL,
    check_id          text             NOT NULL,
    check_kind        text             NOT NULL,
    parent            text,
    -- The most severe severity the check had that day (critical beats warning).
    severity          text             NOT NULL CHECK (severity IN ('critical', 'warning')),
    passed            integer          NOT NULL,
    failed            integer          NOT NULL,
    error             integer          NOT NULL,
    skipped           integer          NOT NULL,
    critical_problems integer          NOT NULL,
    -- Runs, each counted on one row only: that of its first result in the key's order
    -- (family, target, check_id), 0 on the others. An environment's rows of a day add up to
    -- its runs that day (runs with at least one result, as the reports count them); a
    -- family's or a check's rows alone mean nothing (a run counts where its first result is).
    runs              integer          NOT NULL DEFAULT 0,
    -- Durations of the results that ran (skips left out, as the reports do); the sum, not
    -- a mean, so days add up into weeks and months exactly. The median is the day's as
    -- first rolled up: a late run merged in later does not move it.
    duration_ms_sum   double precision NOT NULL,
    duration_ms_max   double precision,
    duration_ms_p50   double precision,
    first_status      text             NOT NULL,
    last_status       text             NOT NULL,
    last_message      text             NOT NULL DEFAULT '',
    PRIMARY KEY (day, environment, family, target, check_id)
);

-- Serves reading an environment's rollups over a range of days (trends beyond raw history).
CREATE INDEX daily_rollups_env_day_idx ON vigil.daily_rollups (environment, day);

-- One row per day rolled up. `final`: rolled up again right before its raw rows were first
-- deleted, from exactly the rows about to go; from then on the day is never recomputed (its
-- raw rows may be half gone after a crash), so a rollup always equals what was deleted.
-- `max_run`: the newest run the rollup holds. Pruning deletes no run newer than that; a run
-- recorded into a day already final (rare: its start time is when it ran) is added to the
-- day's rollups before it goes.
CREATE TABLE vigil.rollup_days (
    day          date        PRIMARY KEY,
    results      bigint      NOT NULL,
    final        boolean     NOT NULL DEFAULT false,
    max_run      bigint,
    rolled_up_at timestamptz NOT NULL DEFAULT now()
);

-- Serves rolling up a day and pruning (runs by start time across every environment);
-- runs_env_started_idx leads with the environment and cannot.
CREATE INDEX runs_started_idx ON vigil.runs (started_at);

-- Deleting a run sets the alerts' links to it to NULL (ON DELETE SET NULL): without these,
-- each pruned run would scan vigil.alerts twice.
CREATE INDEX alerts_last_run_idx ON vigil.alerts (last_run);
CREATE INDEX alerts_last_notice_run_idx ON vigil.alerts (last_notice_run);
