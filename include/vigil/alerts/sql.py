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

# Channels told of each alert's current episode, per channel, on the evaluation clock:
# `heard` (a firing or reminder accepted, or being sent by an overlapping evaluation),
# `owed` (one failed and still to be retried, see OWED), and `last_at` (the newest of these
# or of one given up: reminders count from it, so a channel that is down is not sent a new
# notice every run). A resolve goes to the channels that heard or are owed the episode.
TOLD = """
SELECT n.alert, n.channel, max(n.evaluated_at) AS last_at,
       bool_or(n.status IN ('sent', 'sending')) AS heard,
       bool_or(n.status = 'failed' AND a.state = 'firing' AND n.tries < %(max_tries)s
               AND n.evaluated_at >= %(since)s) AS owed
FROM vigil.alert_notifications n JOIN vigil.alerts a ON a.id = n.alert AND a.episode = n.episode
WHERE a.environment = %(env)s AND a.fingerprint = ANY(%(fps)s)
  AND n.status IN ('sent', 'sending', 'failed', 'given_up') AND n.kind IN ('firing', 'reminder')
GROUP BY n.alert, n.channel
"""

# Open alerts about one check (their scope names a check_id): those the rules said nothing
# about this run may be about a part its parent no longer reports (alerts.parts).
OPEN_CHECK_ALERTS = """
SELECT fingerprint, rule_id, scope FROM vigil.alerts
WHERE environment = %(env)s AND state IN ('pending', 'firing') AND scope ? 'check_id'
ORDER BY fingerprint
"""

# The newest result of each check id: its parent (the spec check it is a part of), target
# and family; ids never recorded yield no row. One probe per asked id, newest first with
# LIMIT 1 on check_results_env_check_started_idx, reads one row per id whatever the history
# kept (DISTINCT ON over every stored result of the ids grew with it: 65 ms at 10 M results
# against 1.8 ms for this, benchmarks/bench_store_scale.py).
LAST_RESULT_OF = """
SELECT l.check_id, l.parent, l.target, l.family
FROM (SELECT DISTINCT unnest(%(ids)s::text[]) AS check_id) i
CROSS JOIN LATERAL (
    SELECT c.check_id, c.parent, c.target, c.family FROM vigil.check_results c
    WHERE c.environment = %(env)s AND c.check_id = i.check_id
    ORDER BY c.started_at DESC, c.id DESC LIMIT 1
) l
ORDER BY l.check_id
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
# A notice that failed is tried again by later evaluations of the environment (each one a
# delivery of Delivery.attempts attempts) while it is this recent on the evaluation clock
# and has been tried fewer times than this; then it is given up, and the run says so.
RETRY_WITHIN_S = 7 * 24 * 3600
RETRY_MAX_TRIES = 10

# A notice still worth sending: of the alert's current episode, a resolve, or a firing or
# reminder while the alert still fires; within the bounds above.
OWED = """
a.episode = n.episode AND (n.kind = 'resolve' OR a.state = 'firing')
AND n.evaluated_at >= %(since)s AND n.tries < %(max_tries)s
"""
# Undelivered: failed, or claimed by a sender that died mid-send (its lease is over).
UNDELIVERED = """
(n.status = 'failed'
 OR (n.status = 'sending' AND n.claimed_at < now() - %(lease)s * interval '1 second'))
"""

# This run's queued notices, plus undelivered ones still owed (sql.OWED).
CLAIM = f"""
UPDATE vigil.alert_notifications n SET status = 'sending', claimed_at = now()
FROM vigil.alerts a
WHERE a.id = n.alert AND a.environment = %(env)s
  AND ((n.run = %(run)s AND n.status = 'pending') OR ({UNDELIVERED} AND {OWED}))
RETURNING n.id, n.alert, n.channel, n.kind, n.notice_seq, n.content, a.fingerprint
"""

# Undelivered notices no longer owed, closed before claiming: `superseded` when the alert
# moved on (resolved: its resolve goes to the channel instead; or fired again), else
# `given_up` (too old, or tried too often): those the run's report and task log name.
GIVE_UP = f"""
UPDATE vigil.alert_notifications n
SET status = CASE WHEN a.episode <> n.episode OR (n.kind <> 'resolve' AND a.state <> 'firing')
                  THEN 'superseded' ELSE 'given_up' END,
    finished_at = now()
FROM vigil.alerts a
WHERE a.id = n.alert AND a.environment = %(env)s AND {UNDELIVERED} AND NOT ({OWED})
RETURNING n.id, n.channel, n.kind, n.status, n.tries, n.error, n.evaluated_at, a.fingerprint
"""

# A delivery's outcome: sent; failed (to be retried); or given up on its last try.
FINISH = """
UPDATE vigil.alert_notifications n
SET status = CASE WHEN %(ok)s THEN 'sent'
                  WHEN n.tries + 1 >= %(max_tries)s THEN 'given_up' ELSE 'failed' END,
    tries = n.tries + 1, attempts = n.attempts + %(attempts)s, error = %(error)s,
    finished_at = now()
FROM vigil.alerts a
WHERE a.id = n.alert AND n.id = ANY(%(ids)s) AND n.status = 'sending'
RETURNING n.id, n.channel, n.kind, n.status, n.tries, n.error, n.evaluated_at, a.fingerprint
"""

MARK_NOTIFIED = """
UPDATE vigil.alerts SET last_notified_at = GREATEST(last_notified_at, %(now)s)
WHERE id = ANY(%(ids)s)
"""
