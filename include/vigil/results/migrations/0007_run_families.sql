-- 0007: a run's results counted per family, kept beside the run's own counts.
--
-- The UI's overview (every environment x family: latest state, pass rates over 7 and 30
-- days) would otherwise count ~1,000 result rows per run over a month of runs: 300 ms+
-- at a million stored results. These rows are recomputed from check_results on every
-- write of the run (as vigil.runs' counts are: never incremented, so a retried task that
-- records its checks again cannot count twice), and they go with their run.
CREATE TABLE vigil.run_families (
    run               bigint      NOT NULL REFERENCES vigil.runs (id) ON DELETE CASCADE,
    environment       text        NOT NULL,
    family            text        NOT NULL,
    started_at        timestamptz NOT NULL,
    passed            integer     NOT NULL,
    failed            integer     NOT NULL,
    error             integer     NOT NULL,
    skipped           integer     NOT NULL,
    critical_problems integer     NOT NULL,
    PRIMARY KEY (run, family)
);

-- Serves the overview's pass rates: an environment's rows in a time window.
CREATE INDEX run_families_env_started_idx ON vigil.run_families (environment, started_at);

INSERT INTO vigil.run_families
SELECT c.run, r.environment, c.family, r.started_at,
       count(*) FILTER (WHERE c.status = 'passed'),
       count(*) FILTER (WHERE c.status = 'failed'),
       count(*) FILTER (WHERE c.status = 'error'),
       count(*) FILTER (WHERE c.status = 'skipped'),
       count(*) FILTER (WHERE c.status IN ('failed', 'error') AND c.severity = 'critical')
FROM vigil.check_results c JOIN vigil.runs r ON r.id = c.run
GROUP BY c.run, r.environment, c.family, r.started_at;
