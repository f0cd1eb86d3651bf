-- 0005: a notice that failed is retried by later evaluations, within bounds, then given up.
--
-- `tries` counts deliveries of a notice (one per evaluation that claimed it, each of up to
-- `delivery.attempts` attempts): a channel that could not even be built (its secret
-- variable unset) makes no attempt, yet its try counts, so every notice's retries end.
-- Two closing states join: `given_up` (tried too often, or owed too long: the run that
-- gives up says so) and `superseded` (a firing or reminder of an alert that resolved or
-- fired again before it could be sent: the later notice tells the channel instead).
ALTER TABLE vigil.alert_notifications ADD COLUMN IF NOT EXISTS tries integer NOT NULL DEFAULT 0;

-- Notices finished before this migration were delivered (or failed) once.
UPDATE vigil.alert_notifications SET tries = 1 WHERE tries = 0 AND status IN ('sent', 'failed');

ALTER TABLE vigil.alert_notifications DROP CONSTRAINT IF EXISTS alert_notifications_status_check;
ALTER TABLE vigil.alert_notifications ADD CONSTRAINT alert_notifications_status_check
    CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'given_up', 'superseded',
                      'silenced', 'dry_run'));

-- Firings and reminders that failed before this migration were never going to be retried
-- (later reminders were queued instead): retrying them now would re-send stale news.
UPDATE vigil.alert_notifications SET status = 'superseded'
WHERE status = 'failed' AND kind <> 'resolve';
