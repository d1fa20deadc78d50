DROP INDEX IF EXISTS agentpg.runs_superseded_idx;
ALTER TABLE agentpg.runs DROP CONSTRAINT IF EXISTS runs_superseded_finalized;
ALTER TABLE agentpg.runs DROP COLUMN IF EXISTS superseded_by_run_id;
ALTER TABLE agentpg.runs DROP COLUMN IF EXISTS regenerated_from_run_id;
