-- 0006: performance probes' figures, one row per probe per run: the time series that
-- baselines, the latency_regression rule and the trend charts read.
--
-- A probe's thresholds are check results like any other; this table keeps what they were
-- judged on (p50..p99.9, max, rps, error rate, counts) as one JSONB object, and the encoded
-- HdrHistogram (not truncated, unlike evidence) so percentiles can be recomputed or merged
-- across runs later. `profile` separates a light daily load from a heavier weekly one: a
-- baseline only compares like with like. `passed` is every threshold of the probe passing
-- in that run: only such runs make a baseline (a regression must not become the norm).
CREATE TABLE vigil.probe_figures (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run         bigint      NOT NULL REFERENCES vigil.runs (id) ON DELETE CASCADE,
    environment text        NOT NULL,
    check_id    text        NOT NULL,
    target      text        NOT NULL,
    check_kind  text        NOT NULL,
    profile     text        NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    passed      boolean     NOT NULL,
    figures     jsonb       NOT NULL,
    histogram   text,
    -- A retried task measures again: its figures replace the earlier attempt's.
    CONSTRAINT probe_figures_run_check_key UNIQUE (run, check_id)
);

-- Serves the baseline (a probe's newest passing rows of one profile) and the charts.
CREATE INDEX probe_figures_series_idx
    ON vigil.probe_figures (environment, check_id, profile, recorded_at DESC);
