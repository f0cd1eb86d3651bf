-- 0004: a result names its family under one name, says what kind of check ran, and links
-- to the spec check it is a part of.
--
-- `kind` held the family (health, quality) while the check's own kind hid in
-- details->>'check_type'; a part-result (an expectation of a suite, an object of a schema
-- drift check) was tied to its spec check only by an id prefix. Renaming keeps every index
-- that covers the column (check_results_env_started_idx INCLUDEs it).
ALTER TABLE vigil.check_results RENAME COLUMN kind TO family;
ALTER TABLE vigil.check_results ADD COLUMN check_kind text NOT NULL DEFAULT '';
ALTER TABLE vigil.check_results ADD COLUMN parent text;

UPDATE vigil.check_results
SET check_kind = COALESCE(details->>'check_type', ''),
    parent = details->>'spec_check'
WHERE details ? 'check_type' OR details ? 'spec_check';

-- Schema-drift part rows written before parts named their spec check carry only
-- {"object", "change"}: their id is "<spec check id>.<object>", so the prefix is the parent.
UPDATE vigil.check_results
SET check_kind = 'schema_drift',
    parent = left(check_id, length(check_id) - length(details->>'object') - 1)
WHERE parent IS NULL
  AND details ? 'object' AND details ? 'change' AND NOT details ? 'spec_check'
  AND length(check_id) > length(details->>'object') + 1
  AND right(check_id, length(details->>'object') + 1) = '.' || (details->>'object');

-- The alert label `kind` is now `family`. A silence scope names it as a term ("kind=quality
-- target=db", terms split at spaces or commas) or inside a fingerprint glob
-- ("fingerprint=slow/kind=*"): both are rewritten, or evaluations could not read them.
UPDATE vigil.silences
SET scope = regexp_replace(scope, '(^|[[:space:],/])kind=', '\1family=', 'g')
WHERE scope ~ '(^|[[:space:],/])kind=';

-- Alerts whose scope has the key `kind` get it renamed, and the fingerprint the code now
-- computes (rules.fingerprint: "rule/k=v,..." with keys sorted), so the next evaluation
-- finds the same alert instead of firing a duplicate while the old one never resolves.
-- A fingerprint longer than 200 characters is a hash of the scope's Python JSON, which SQL
-- cannot reproduce byte for byte: such an alert keeps its old fingerprint and, if still
-- open, is closed as resolved with a note in its detail (the next evaluation opens it
-- afresh under the new fingerprint if it still holds). Folded-under links follow.
CREATE TEMP TABLE vigil_0004_alerts ON COMMIT DROP AS
SELECT a.id, a.environment, a.fingerprint AS old_fp, n.scope,
       a.rule_id || '/' || (SELECT string_agg(key || '=' || value, ',' ORDER BY key COLLATE "C")
                            FROM jsonb_each_text(n.scope)) AS new_fp
FROM vigil.alerts a,
     LATERAL (SELECT (a.scope - 'kind') || jsonb_build_object('family', a.scope->'kind') AS scope) n
WHERE a.scope ? 'kind';

UPDATE vigil.alerts a
SET folded_under = m.new_fp
FROM vigil_0004_alerts m
WHERE a.environment = m.environment AND a.folded_under = m.old_fp AND length(m.new_fp) <= 200;

UPDATE vigil.alerts a
SET scope = m.scope,
    fingerprint = CASE WHEN length(m.new_fp) <= 200 THEN m.new_fp ELSE a.fingerprint END,
    state = CASE WHEN length(m.new_fp) <= 200 THEN a.state ELSE 'resolved' END,
    resolved_at = CASE WHEN length(m.new_fp) > 200 AND a.state <> 'resolved'
                       THEN now() ELSE a.resolved_at END,
    detail = CASE WHEN length(m.new_fp) > 200 AND a.state <> 'resolved'
                  THEN a.detail || jsonb_build_object('closed_by_migration',
                       '0004: label kind renamed family; its hashed fingerprint changed')
                  ELSE a.detail END,
    updated_at = now()
FROM vigil_0004_alerts m
WHERE a.id = m.id;
