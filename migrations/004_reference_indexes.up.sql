-- agentpg schema, version 4: an index under every reference that a delete follows.
-- Deleting an iteration (with its run or session) nulls the pointers to it in runs and messages, and deleting a
-- message nulls iterations.response_message_id (and so on for every reference below): without these indexes PostgreSQL scans the whole table once per
-- deleted row (deleting a session of 100 runs took 7.7 s with 100,000 runs in the database). Deleting an agent
-- checks tool_executions.agent_id the same way. Partial: most rows have no such pointer, or none yet.
CREATE INDEX messages_iteration_idx ON agentpg.messages (iteration_id) WHERE iteration_id IS NOT NULL;
CREATE INDEX runs_current_iteration_idx ON agentpg.runs (current_iteration_id) WHERE current_iteration_id IS NOT NULL;
CREATE INDEX iterations_response_message_idx ON agentpg.iterations (response_message_id) WHERE response_message_id IS NOT NULL;
CREATE INDEX tool_executions_agent_idx ON agentpg.tool_executions (agent_id) WHERE agent_id IS NOT NULL;
CREATE INDEX runs_parent_tool_execution_idx ON agentpg.runs (parent_tool_execution_id) WHERE parent_tool_execution_id IS NOT NULL;
CREATE INDEX runs_regenerated_from_idx ON agentpg.runs (regenerated_from_run_id) WHERE regenerated_from_run_id IS NOT NULL;
CREATE INDEX runs_superseded_by_idx ON agentpg.runs (superseded_by_run_id) WHERE superseded_by_run_id IS NOT NULL;
