"""SQL for alert state, the notification outbox and silences (tables: 0002_alerts.sql)."""

from __future__ import annotations

# Two-int advisory lock: (class, environment). The class is "vig1" in ASCII; it keeps the
# key apart from the migrator's one-int lock.
LOCK_CLASS = 0x76696731
LOCK_ENVIRONMENT = "SELECT pg_advisory_xact_lock(%s, hashtext(%s))"

RUN_ROW = "SELECT id, started_at, dry_run FROM vigil.runs WHERE dag_id = %s AND run_id = %s"

ALERTS_OF = """
SELECT * FROM vigil.alerts
WHERE environment = %(env)s AND fingerprint = ANY(%(fps)s)
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
CLAIM_LEASE_S = 300

CLAIM = """
UPDATE vigil.alert_notifications n SET status = 'sending', claimed_at = now()
FROM vigil.alerts a
WHERE a.id = n.alert AND n.run = %(run)s
  AND (n.status = 'pending'
       OR (n.status = 'sending' AND n.claimed_at < now() - %(lease)s * interval '1 second'))
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
