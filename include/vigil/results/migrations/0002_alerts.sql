-- 0002: alert state, the notification outbox/log, and silences.
--
-- Nothing is sent twice for one state change, by construction:
--   * evaluations of one environment take a transaction-level advisory lock, so state
--     moves one evaluation at a time; each alert remembers the last run it judged
--     (last_run_started, last_run) and ignores that run or older ones when asked again;
--   * every notice an alert owes is a row here, queued in the same transaction as the
--     state change that caused it, unique per (alert, notice_seq, channel);
--   * a sender claims rows by moving them pending -> sending in one statement under the
--     same lock, so two evaluations never both hold one row.

CREATE TABLE vigil.alerts (
    id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    environment      text        NOT NULL,
    -- rule id + scope ("api-streak/check_id=api_up"): one alert per rule per scope.
    fingerprint      text        NOT NULL,
    rule_id          text        NOT NULL,
    rule_kind        text        NOT NULL,
    scope            jsonb       NOT NULL DEFAULT '{}'::jsonb,
    severity         text        NOT NULL CHECK (severity IN ('critical', 'warning')),
    state            text        NOT NULL CHECK (state IN ('pending', 'firing', 'resolved')),
    -- Times it has fired; a resolve goes to the channels that were told of this episode.
    episode          integer     NOT NULL DEFAULT 0,
    -- Number of the last notice queued (firing, reminder, resolve).
    notice_seq       integer     NOT NULL DEFAULT 0,
    -- Consecutive breaching evaluations, for rules with for_runs > 1.
    breach_runs      integer     NOT NULL DEFAULT 0,
    title            text        NOT NULL DEFAULT '',
    detail           jsonb       NOT NULL DEFAULT '{}'::jsonb,
    -- Fingerprint of the health alert this one is folded under in its last run, if any.
    folded_under     text,
    first_seen       timestamptz NOT NULL,
    last_seen        timestamptz,
    fired_at         timestamptz,
    resolved_at      timestamptz,
    -- Last time a channel accepted a notice about it (reminders count from here).
    last_notified_at timestamptz,
    last_notice_run  bigint      REFERENCES vigil.runs (id) ON DELETE SET NULL,
    last_run         bigint      REFERENCES vigil.runs (id) ON DELETE SET NULL,
    -- Kept apart from last_run so the "older run" guard survives deleting old runs.
    last_run_started timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT alerts_env_fingerprint_key UNIQUE (environment, fingerprint)
);

-- Serves "what is firing in this environment" (reports, the CLI, the Airflow UI page).
CREATE INDEX alerts_env_state_idx ON vigil.alerts (environment, state);

CREATE TABLE vigil.alert_notifications (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert       bigint      NOT NULL REFERENCES vigil.alerts (id) ON DELETE CASCADE,
    notice_seq  integer     NOT NULL,
    episode     integer     NOT NULL,
    channel     text        NOT NULL,
    kind        text        NOT NULL CHECK (kind IN ('firing', 'resolve', 'reminder')),
    run         bigint      REFERENCES vigil.runs (id) ON DELETE SET NULL,
    -- pending: queued; sending: claimed by a sender; sent / failed: delivered or given up;
    -- silenced / dry_run: recorded on purpose, never sent.
    status      text        NOT NULL
                CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'silenced', 'dry_run')),
    attempts    integer     NOT NULL DEFAULT 0,
    error       text        NOT NULL DEFAULT '',
    -- The alert as it was when queued: a digest is built from these rows alone.
    content     jsonb       NOT NULL,
    -- The evaluation's clock (evaluate's `now`): reminders count from the last notice a
    -- channel accepted, per channel, on this clock.
    evaluated_at timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    claimed_at  timestamptz,
    finished_at timestamptz,
    CONSTRAINT alert_notifications_once_key UNIQUE (alert, notice_seq, channel)
);

-- Serves claiming a run's queued notices and reading a run's notification log.
CREATE INDEX alert_notifications_run_status_idx ON vigil.alert_notifications (run, status);

CREATE TABLE vigil.silences (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- "key=glob" terms joined by spaces, all of which must match an alert's labels:
    -- environment, rule, fingerprint, severity, kind, target, check_id.
    scope       text        NOT NULL,
    starts_at   timestamptz NOT NULL DEFAULT now(),
    until       timestamptz NOT NULL,
    created_by  text        NOT NULL,
    reason      text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    removed_at  timestamptz,
    removed_by  text,
    CONSTRAINT silences_until_after_start CHECK (until > starts_at)
);

-- Serves "silences in force now": those not removed and not yet over.
CREATE INDEX silences_until_idx ON vigil.silences (until) WHERE removed_at IS NULL;
