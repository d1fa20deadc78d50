-- agentpg schema, version 2: regenerated runs.
-- A regenerated run points at the run it replaces; the replaced run is superseded and its messages leave the
-- session's live history (they stay in the database, listed with the run).

ALTER TABLE agentpg.runs ADD COLUMN regenerated_from_run_id uuid REFERENCES agentpg.runs (id) ON DELETE SET NULL;
ALTER TABLE agentpg.runs ADD COLUMN superseded_by_run_id uuid REFERENCES agentpg.runs (id) ON DELETE SET NULL;
ALTER TABLE agentpg.runs ADD CONSTRAINT runs_superseded_finalized CHECK (superseded_by_run_id IS NULL OR finalized_at IS NOT NULL);
CREATE INDEX runs_superseded_idx ON agentpg.runs (session_id) WHERE superseded_by_run_id IS NOT NULL;
