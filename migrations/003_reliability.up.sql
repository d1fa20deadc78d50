-- agentpg schema, version 3: surviving failure.
-- A pending tool call that no live instance can run (nobody registered its tool) is stamped by the leader
-- with the moment it was first seen unclaimable, and unstamped when a live instance offers the tool again.
-- Runs show such calls as blocked; after unclaimedToolTimeoutMs the run fails naming the missing tool.
ALTER TABLE agentpg.tool_executions ADD COLUMN unclaimable_since timestamptz;
CREATE INDEX tool_executions_unclaimable_idx ON agentpg.tool_executions (unclaimable_since) WHERE unclaimable_since IS NOT NULL;
