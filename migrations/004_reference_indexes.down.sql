-- Reverts version 4.
DROP INDEX IF EXISTS agentpg.runs_superseded_by_idx;
DROP INDEX IF EXISTS agentpg.runs_regenerated_from_idx;
DROP INDEX IF EXISTS agentpg.runs_parent_tool_execution_idx;
DROP INDEX IF EXISTS agentpg.tool_executions_agent_idx;
DROP INDEX IF EXISTS agentpg.iterations_response_message_idx;
DROP INDEX IF EXISTS agentpg.runs_current_iteration_idx;
DROP INDEX IF EXISTS agentpg.messages_iteration_idx;
