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
