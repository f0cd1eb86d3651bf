"""SQL for alert state, the notification outbox and silences (tables: 0002_alerts.sql)."""

from __future__ import annotations

# Two-int advisory lock: (class, environment). The class is "vig1" in ASCII; it keeps the
# key apart from the migrator's one-int lock.
LOCK_CLASS = 0x76696731
LOCK_ENVIRONMENT = "SELECT pg_advisory_xact_lock(%s, hashtext(%s))"

# A dry run judges inside a savepoint it rolls back: state moves only for runs that send.
DRY_RUN_SAVEPOINT = "SAVEPOINT vigil_dry_run"
DRY_RUN_ROLLBACK = "ROLLBACK TO SAVEPOINT vigil_dry_run"

RUN_ROW = "SELECT id, started_at, dry_run FROM vigil.runs WHERE dag_id = %s AND run_id = %s"

ALERTS_OF = """
SELECT * FROM vigil.alerts
WHERE environment = %(env)s AND fingerprint = ANY(%(fps)s)
FOR UPDATE
"""

# Open alerts of rules no longer in the config (their rule ids are not in %(rules)s).
ORPHANS = """
SELECT * FROM vigil.alerts
WHERE environment = %(env)s AND state IN ('pending', 'firing') AND rule_id <> ALL(%(rules)s)
ORDER BY fingerprint
FOR UPDATE
"""

# Channels told of each alert's current episode (a firing or reminder accepted, or being
# sent right now by an overlapping evaluation), and when, on the evaluation clock: a
# resolve goes to them, a reminder is due per channel.
TOLD = """
SELECT n.alert, n.channel, max(n.evaluated_at) AS last_sent
FROM vigil.alert_notifications n JOIN vigil.alerts a ON a.id = n.alert AND a.episode = n.episode
WHERE a.environment = %(env)s AND a.fingerprint = ANY(%(fps)s)
  AND n.status IN ('sent', 'sending') AND n.kind IN ('firing', 'reminder')
GROUP BY n.alert, n.channel
"""

INSERT_ALERT = """
INSERT INTO vigil.alerts (environment, fingerprint, rule_id, rule_kind, scope, severity, state,
                          first_seen, last_run_started)
VALUES (%(env)s, %(fingerprint)s, %(rule_id)s, %(rule_kind)s, %(scope)s, %(severity)s,
        'pending', %(now)s, 'epoch')
ON CONFLICT (environment, fingerprint) DO UPDATE SET environment = EXCLUDED.environment
RETURNING *
"""

UPDATE_ALERT = """
UPDATE vigil.alerts SET
    state = %(state)s, episode = %(episode)s, notice_seq = %(notice_seq)s,
    breach_runs = %(breach_runs)s, severity = %(severity)s, title = %(title)s,
    detail = %(detail)s, folded_under = %(folded_under)s, first_seen = %(first_seen)s,
    last_seen = %(last_seen)s, fired_at = %(fired_at)s, resolved_at = %(resolved_at)s,
    last_notice_run = %(last_notice_run)s, last_run = %(run)s,
    last_run_started = %(run_started)s, updated_at = now()
WHERE id = %(id)s
"""

QUEUE_NOTICE = """
INSERT INTO vigil.alert_notifications
    (alert, notice_seq, episode, channel, kind, run, status, error, content, evaluated_at)
VALUES (%(alert)s, %(notice_seq)s, %(episode)s, %(channel)s, %(kind)s, %(run)s, %(status)s,
        %(error)s, %(content)s, %(now)s)
ON CONFLICT (alert, notice_seq, channel) DO NOTHING
RETURNING id
"""

# A claim older than this is a sender that died mid-send; its rows may be sent again.
# It exceeds the longest delivery (Delivery.max_total_s <= 300), so a live sender keeps its rows.
CLAIM_LEASE_S = 300
# A later evaluation of the environment takes over notices an earlier one did not deliver
# (a claim left by a dead sender; a resolve that failed: nothing else would re-send it)
# while they are this recent on the evaluation clock and tried fewer times than this.
RETRY_WITHIN_S = 24 * 3600
RETRY_MAX_ATTEMPTS = 30

# This run's queued notices, plus older ones still worth sending: of the alert's current
# episode, and a firing or reminder only while the alert still fires. A failed firing or
# reminder is not taken over: the next evaluation queues a reminder to any channel that
# never accepted one (state.TOLD), which would make it a second message.
CLAIM = """
UPDATE vigil.alert_notifications n SET status = 'sending', claimed_at = now()
FROM vigil.alerts a
WHERE a.id = n.alert AND a.environment = %(env)s
  AND (
    (n.run = %(run)s AND n.status = 'pending')
    OR (n.run = %(run)s AND n.status = 'sending'
        AND n.claimed_at < now() - %(lease)s * interval '1 second')
    OR (a.episode = n.episode AND (n.kind = 'resolve' OR a.state = 'firing')
        AND n.evaluated_at >= %(since)s
        AND ((n.status = 'sending' AND n.claimed_at < now() - %(lease)s * interval '1 second')
             OR (n.status = 'failed' AND n.kind = 'resolve'
                 AND n.attempts < %(max_attempts)s)))
  )
RETURNING n.id, n.alert, n.channel, n.kind, n.notice_seq, n.content, a.fingerprint
"""

FINISH = """
UPDATE vigil.alert_notifications
SET status = %(status)s, attempts = attempts + %(attempts)s, error = %(error)s,
    finished_at = now()
WHERE id = ANY(%(ids)s) AND status = 'sending'
"""

MARK_NOTIFIED = """
UPDATE vigil.alerts SET last_notified_at = GREATEST(last_notified_at, %(now)s)
WHERE id = ANY(%(ids)s)
"""
