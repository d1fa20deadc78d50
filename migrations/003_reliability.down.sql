-- Reverts version 3.
DROP INDEX IF EXISTS agentpg.tool_executions_unclaimable_idx;
ALTER TABLE agentpg.tool_executions DROP COLUMN IF EXISTS unclaimable_since;
