-- agentpg schema, version 1.
-- Every object is qualified with the schema "agentpg". agentpg's migrate() substitutes the configured
-- schema name for that qualifier; other migration tools can apply this file as it is.

CREATE SCHEMA IF NOT EXISTS agentpg;

-- Names that reach Claude as tool names must match the API's pattern.
CREATE FUNCTION agentpg.valid_tool_names(names text[]) RETURNS boolean
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT coalesce(bool_and(n ~ '^[a-zA-Z0-9_-]{1,64}$'), true) FROM unnest(names) AS n $$;

-- Agents ---------------------------------------------------------------------------------------------

CREATE TABLE agentpg.agents (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name          text NOT NULL CONSTRAINT agents_name_pattern CHECK (name ~ '^[a-zA-Z0-9_-]{1,64}$'),
  description   text NOT NULL DEFAULT '',
  model         text NOT NULL CONSTRAINT agents_model_length CHECK (length(model) BETWEEN 1 AND 256),
  system_prompt text NOT NULL DEFAULT '',
  tools         text[] NOT NULL DEFAULT '{}' CONSTRAINT agents_tools_pattern CHECK (agentpg.valid_tool_names(tools)),
  agent_ids     uuid[] NOT NULL DEFAULT '{}',
  max_tokens    integer CONSTRAINT agents_max_tokens_positive CHECK (max_tokens > 0),
  metadata      jsonb NOT NULL DEFAULT '{}' CONSTRAINT agents_metadata_object CHECK (jsonb_typeof(metadata) = 'object'),
  config        jsonb NOT NULL DEFAULT '{}' CONSTRAINT agents_config_object CHECK (jsonb_typeof(config) = 'object'),
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);
-- One agent per (name, exact metadata): the tenant key. jsonb::text is canonical, so equal metadata hashes equally.
CREATE UNIQUE INDEX agents_name_metadata_key ON agentpg.agents (name, md5(metadata::text));
CREATE INDEX agents_metadata_idx ON agentpg.agents USING gin (metadata jsonb_path_ops);
CREATE INDEX agents_name_idx ON agentpg.agents (name, id);

-- Tools registered by instances (definitions are shared; code lives in the processes) ----------------

CREATE TABLE agentpg.tools (
  name         text PRIMARY KEY CONSTRAINT tools_name_pattern CHECK (name ~ '^[a-zA-Z0-9_-]{1,64}$'),
  description  text NOT NULL DEFAULT '',
  input_schema jsonb NOT NULL CONSTRAINT tools_schema_object CHECK (jsonb_typeof(input_schema) = 'object'),
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Sessions -------------------------------------------------------------------------------------------

CREATE TABLE agentpg.sessions (
  id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  parent_session_id uuid REFERENCES agentpg.sessions (id) ON DELETE CASCADE,
  depth             integer NOT NULL DEFAULT 0 CONSTRAINT sessions_depth_nonnegative CHECK (depth >= 0),
  metadata          jsonb NOT NULL DEFAULT '{}' CONSTRAINT sessions_metadata_object CHECK (jsonb_typeof(metadata) = 'object'),
  compaction_count  integer NOT NULL DEFAULT 0,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT sessions_depth_consistency CHECK ((parent_session_id IS NULL) = (depth = 0))
);
CREATE INDEX sessions_metadata_idx ON agentpg.sessions USING gin (metadata jsonb_path_ops);
CREATE INDEX sessions_created_idx ON agentpg.sessions (created_at DESC, id);
CREATE INDEX sessions_updated_idx ON agentpg.sessions (updated_at DESC, id);
CREATE INDEX sessions_parent_idx ON agentpg.sessions (parent_session_id) WHERE parent_session_id IS NOT NULL;

-- Message batches: one Anthropic Message Batch carries iterations of many runs -------------------------

CREATE TABLE agentpg.batches (
  id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  -- NULL while the intent is recorded but the API has not answered yet.
  anthropic_batch_id text UNIQUE,
  state              text NOT NULL DEFAULT 'submitting'
                     CONSTRAINT batches_state_valid CHECK (state IN ('submitting', 'in_progress', 'ended', 'abandoned')),
  processing_status  text,
  request_count      integer NOT NULL CONSTRAINT batches_request_count_positive CHECK (request_count > 0),
  lease_owner        text,
  lease_expires_at   timestamptz,
  next_poll_at       timestamptz NOT NULL DEFAULT now(),
  poll_count         integer NOT NULL DEFAULT 0,
  error_message      text,
  created_at         timestamptz NOT NULL DEFAULT now(),
  submitted_at       timestamptz,
  expires_at         timestamptz,
  ended_at           timestamptz,
  CONSTRAINT batches_submitted_has_id CHECK (state IN ('submitting', 'abandoned') OR anthropic_batch_id IS NOT NULL),
  CONSTRAINT batches_lease_pair CHECK ((lease_owner IS NULL) = (lease_expires_at IS NULL))
);
CREATE INDEX batches_poll_idx ON agentpg.batches (next_poll_at) WHERE state = 'in_progress';
CREATE INDEX batches_submitting_idx ON agentpg.batches (lease_expires_at) WHERE state = 'submitting';

-- Runs -----------------------------------------------------------------------------------------------

CREATE TABLE agentpg.runs (
  id                       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  session_id               uuid NOT NULL REFERENCES agentpg.sessions (id) ON DELETE CASCADE,
  agent_id                 uuid NOT NULL REFERENCES agentpg.agents (id) ON DELETE RESTRICT,
  mode                     text NOT NULL CONSTRAINT runs_mode_valid CHECK (mode IN ('batch', 'streaming')),
  parent_run_id            uuid REFERENCES agentpg.runs (id) ON DELETE CASCADE,
  parent_tool_execution_id uuid,
  depth                    integer NOT NULL DEFAULT 0 CONSTRAINT runs_depth_nonnegative CHECK (depth >= 0),
  state                    text NOT NULL DEFAULT 'pending'
                           CONSTRAINT runs_state_valid CHECK (state IN ('pending', 'batch_submitting', 'batch_pending',
                             'streaming', 'pending_tools', 'completed', 'cancelled', 'failed')),
  prompt                   jsonb NOT NULL CONSTRAINT runs_prompt_array CHECK (jsonb_typeof(prompt) = 'array'),
  variables                jsonb NOT NULL DEFAULT '{}' CONSTRAINT runs_variables_object CHECK (jsonb_typeof(variables) = 'object'),
  metadata                 jsonb NOT NULL DEFAULT '{}' CONSTRAINT runs_metadata_object CHECK (jsonb_typeof(metadata) = 'object'),
  max_iterations           integer NOT NULL CONSTRAINT runs_max_iterations_positive CHECK (max_iterations > 0),
  override_instructions    text,
  append_instructions      text,
  current_iteration        integer NOT NULL DEFAULT 0,
  current_iteration_id     uuid,
  response_text            text,
  stop_reason              text,
  input_tokens             bigint NOT NULL DEFAULT 0,
  output_tokens            bigint NOT NULL DEFAULT 0,
  cache_creation_input_tokens bigint NOT NULL DEFAULT 0,
  cache_read_input_tokens  bigint NOT NULL DEFAULT 0,
  iteration_count          integer NOT NULL DEFAULT 0,
  tool_iterations          integer NOT NULL DEFAULT 0,
  error_type               text,
  error_message            text,
  idempotency_key          text,
  created_by_instance_id   text,
  created_at               timestamptz NOT NULL DEFAULT now(),
  started_at               timestamptz,
  finalized_at             timestamptz,
  updated_at               timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT runs_finalized_consistency CHECK ((state IN ('completed', 'cancelled', 'failed')) = (finalized_at IS NOT NULL)),
  CONSTRAINT runs_depth_consistency CHECK ((parent_run_id IS NULL) = (depth = 0)),
  CONSTRAINT runs_failed_has_error CHECK (state <> 'failed' OR error_type IS NOT NULL)
);
CREATE UNIQUE INDEX runs_idempotency_key ON agentpg.runs (idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX runs_session_idx ON agentpg.runs (session_id, created_at DESC, id);
CREATE INDEX runs_agent_idx ON agentpg.runs (agent_id, created_at DESC, id);
CREATE INDEX runs_state_idx ON agentpg.runs (state, created_at DESC, id);
CREATE INDEX runs_created_idx ON agentpg.runs (created_at DESC, id);
CREATE INDEX runs_parent_idx ON agentpg.runs (parent_run_id) WHERE parent_run_id IS NOT NULL;
CREATE INDEX runs_active_idx ON agentpg.runs (state) WHERE finalized_at IS NULL;

-- Iterations: one Claude call each ------------------------------------------------------------------

CREATE TABLE agentpg.iterations (
  id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  run_id              uuid NOT NULL REFERENCES agentpg.runs (id) ON DELETE CASCADE,
  iteration_number    integer NOT NULL CONSTRAINT iterations_number_positive CHECK (iteration_number > 0),
  mode                text NOT NULL CONSTRAINT iterations_mode_valid CHECK (mode IN ('batch', 'streaming')),
  state               text NOT NULL DEFAULT 'pending'
                      CONSTRAINT iterations_state_valid CHECK (state IN ('pending', 'submitting', 'in_batch', 'streaming',
                        'completed', 'failed', 'cancelled')),
  trigger_type        text NOT NULL CONSTRAINT iterations_trigger_valid CHECK (trigger_type IN ('prompt', 'tool_results', 'continuation')),
  attempt             integer NOT NULL DEFAULT 0,
  scheduled_at        timestamptz NOT NULL DEFAULT now(),
  batch_id            uuid REFERENCES agentpg.batches (id) ON DELETE SET NULL,
  lease_owner         text,
  lease_expires_at    timestamptz,
  stop_reason         text,
  response_message_id uuid,
  has_tool_use        boolean NOT NULL DEFAULT false,
  tool_execution_count integer NOT NULL DEFAULT 0,
  input_tokens        bigint NOT NULL DEFAULT 0,
  output_tokens       bigint NOT NULL DEFAULT 0,
  cache_creation_input_tokens bigint NOT NULL DEFAULT 0,
  cache_read_input_tokens bigint NOT NULL DEFAULT 0,
  error_type          text,
  error_message       text,
  created_at          timestamptz NOT NULL DEFAULT now(),
  started_at          timestamptz,
  completed_at        timestamptz,
  CONSTRAINT iterations_run_number_key UNIQUE (run_id, iteration_number),
  CONSTRAINT iterations_terminal_consistency CHECK ((state IN ('completed', 'failed', 'cancelled')) = (completed_at IS NOT NULL)),
  CONSTRAINT iterations_lease_pair CHECK ((lease_owner IS NULL) = (lease_expires_at IS NULL))
);
CREATE INDEX iterations_pending_batch_idx ON agentpg.iterations (scheduled_at) WHERE state = 'pending' AND mode = 'batch';
CREATE INDEX iterations_pending_streaming_idx ON agentpg.iterations (scheduled_at) WHERE state = 'pending' AND mode = 'streaming';
CREATE INDEX iterations_batch_idx ON agentpg.iterations (batch_id) WHERE batch_id IS NOT NULL;
CREATE INDEX iterations_streaming_lease_idx ON agentpg.iterations (lease_expires_at) WHERE state = 'streaming';

ALTER TABLE agentpg.runs ADD CONSTRAINT runs_current_iteration_fk
  FOREIGN KEY (current_iteration_id) REFERENCES agentpg.iterations (id) ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED;

-- Messages and their content blocks ----------------------------------------------------------------

CREATE TABLE agentpg.messages (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  -- Total order of a session's history; created_at ties inside one transaction.
  seq          bigint GENERATED ALWAYS AS IDENTITY,
  session_id   uuid NOT NULL REFERENCES agentpg.sessions (id) ON DELETE CASCADE,
  run_id       uuid REFERENCES agentpg.runs (id) ON DELETE CASCADE,
  iteration_id uuid REFERENCES agentpg.iterations (id) ON DELETE SET NULL,
  role         text NOT NULL CONSTRAINT messages_role_valid CHECK (role IN ('user', 'assistant')),
  usage        jsonb,
  is_preserved boolean NOT NULL DEFAULT false,
  is_summary   boolean NOT NULL DEFAULT false,
  metadata     jsonb NOT NULL DEFAULT '{}' CONSTRAINT messages_metadata_object CHECK (jsonb_typeof(metadata) = 'object'),
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX messages_seq_key ON agentpg.messages (seq);
CREATE INDEX messages_session_idx ON agentpg.messages (session_id, seq);
CREATE INDEX messages_run_idx ON agentpg.messages (run_id, seq) WHERE run_id IS NOT NULL;

ALTER TABLE agentpg.iterations ADD CONSTRAINT iterations_response_message_fk
  FOREIGN KEY (response_message_id) REFERENCES agentpg.messages (id) ON DELETE SET NULL;

CREATE TABLE agentpg.content_blocks (
  id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  message_id             uuid NOT NULL REFERENCES agentpg.messages (id) ON DELETE CASCADE,
  block_index            integer NOT NULL CONSTRAINT content_blocks_index_nonnegative CHECK (block_index >= 0),
  type                   text NOT NULL,
  -- The block exactly as the API sends or accepts it (signatures, citations and sources intact).
  raw                    jsonb NOT NULL CONSTRAINT content_blocks_raw_object CHECK (jsonb_typeof(raw) = 'object'),
  text                   text,
  tool_use_id            text,
  tool_name              text,
  tool_input             jsonb,
  tool_result_for_use_id text,
  is_error               boolean NOT NULL DEFAULT false,
  created_at             timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT content_blocks_message_index_key UNIQUE (message_id, block_index),
  CONSTRAINT content_blocks_type_matches CHECK (type = raw ->> 'type')
);
CREATE INDEX content_blocks_tool_use_idx ON agentpg.content_blocks (tool_use_id) WHERE tool_use_id IS NOT NULL;
CREATE INDEX content_blocks_tool_result_idx ON agentpg.content_blocks (tool_result_for_use_id) WHERE tool_result_for_use_id IS NOT NULL;

-- Tool executions: one per tool_use block ----------------------------------------------------------

CREATE TABLE agentpg.tool_executions (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  run_id           uuid NOT NULL REFERENCES agentpg.runs (id) ON DELETE CASCADE,
  iteration_id     uuid NOT NULL REFERENCES agentpg.iterations (id) ON DELETE CASCADE,
  -- Position of the tool_use in the assistant message: tool_results are written in this order.
  block_index      integer NOT NULL,
  tool_use_id      text NOT NULL,
  tool_name        text NOT NULL,
  tool_input       jsonb NOT NULL,
  state            text NOT NULL DEFAULT 'pending'
                   CONSTRAINT tool_executions_state_valid CHECK (state IN ('pending', 'running', 'completed', 'failed',
                     'cancelled', 'discarded', 'skipped')),
  is_agent_tool    boolean NOT NULL DEFAULT false,
  agent_id         uuid REFERENCES agentpg.agents (id) ON DELETE RESTRICT,
  child_run_id     uuid REFERENCES agentpg.runs (id) ON DELETE SET NULL,
  output           jsonb,
  is_error         boolean NOT NULL DEFAULT false,
  error_message    text,
  attempt          integer NOT NULL DEFAULT 0,
  max_attempts     integer NOT NULL CONSTRAINT tool_executions_max_attempts_positive CHECK (max_attempts > 0),
  scheduled_at     timestamptz NOT NULL DEFAULT now(),
  snooze_count     integer NOT NULL DEFAULT 0,
  last_error       text,
  lease_owner      text,
  lease_expires_at timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  started_at       timestamptz,
  completed_at     timestamptz,
  CONSTRAINT tool_executions_iteration_use_key UNIQUE (iteration_id, tool_use_id),
  CONSTRAINT tool_executions_terminal_consistency
    CHECK ((state IN ('completed', 'failed', 'cancelled', 'discarded', 'skipped')) = (completed_at IS NOT NULL)),
  CONSTRAINT tool_executions_agent_consistency CHECK (is_agent_tool = (agent_id IS NOT NULL)),
  CONSTRAINT tool_executions_lease_pair CHECK ((lease_owner IS NULL) = (lease_expires_at IS NULL)),
  CONSTRAINT tool_executions_running_leased CHECK (state <> 'running' OR lease_owner IS NOT NULL)
);
CREATE INDEX tool_executions_pending_idx ON agentpg.tool_executions (tool_name, scheduled_at) WHERE state = 'pending';
CREATE INDEX tool_executions_running_idx ON agentpg.tool_executions (lease_expires_at) WHERE state = 'running';
CREATE INDEX tool_executions_run_idx ON agentpg.tool_executions (run_id, created_at);
CREATE INDEX tool_executions_iteration_idx ON agentpg.tool_executions (iteration_id, block_index);
CREATE INDEX tool_executions_child_idx ON agentpg.tool_executions (child_run_id) WHERE child_run_id IS NOT NULL;

ALTER TABLE agentpg.runs ADD CONSTRAINT runs_parent_tool_execution_fk
  FOREIGN KEY (parent_tool_execution_id) REFERENCES agentpg.tool_executions (id) ON DELETE SET NULL;

-- Instances and leadership ----------------------------------------------------------------------------
-- Instances are UNLOGGED: after a database crash they are empty, and every live client re-registers.

CREATE UNLOGGED TABLE agentpg.instances (
  id                   text PRIMARY KEY CONSTRAINT instances_id_length CHECK (length(id) BETWEEN 1 AND 127),
  name                 text NOT NULL,
  hostname             text NOT NULL,
  pid                  integer NOT NULL,
  version              text NOT NULL,
  max_concurrent_runs  integer NOT NULL CONSTRAINT instances_runs_positive CHECK (max_concurrent_runs > 0),
  max_concurrent_tools integer NOT NULL CONSTRAINT instances_tools_positive CHECK (max_concurrent_tools > 0),
  metadata             jsonb NOT NULL DEFAULT '{}' CONSTRAINT instances_metadata_object CHECK (jsonb_typeof(metadata) = 'object'),
  created_at           timestamptz NOT NULL DEFAULT now(),
  last_heartbeat_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX instances_heartbeat_idx ON agentpg.instances (last_heartbeat_at);

CREATE UNLOGGED TABLE agentpg.instance_tools (
  instance_id   text NOT NULL REFERENCES agentpg.instances (id) ON DELETE CASCADE,
  tool_name     text NOT NULL REFERENCES agentpg.tools (name) ON DELETE CASCADE,
  registered_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (instance_id, tool_name)
);
CREATE INDEX instance_tools_tool_idx ON agentpg.instance_tools (tool_name);

-- One leader at a time; the fencing token grows with every new term and guards the leader's writes.
CREATE SEQUENCE agentpg.leader_fencing_seq;
CREATE TABLE agentpg.leader (
  name          text PRIMARY KEY DEFAULT 'default' CONSTRAINT leader_single_row CHECK (name = 'default'),
  leader_id     text NOT NULL,
  fencing_token bigint NOT NULL,
  elected_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL
);

-- Compaction ---------------------------------------------------------------------------------------

CREATE TABLE agentpg.compaction_events (
  id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  session_id            uuid NOT NULL REFERENCES agentpg.sessions (id) ON DELETE CASCADE,
  strategy              text NOT NULL,
  original_tokens       integer NOT NULL,
  compacted_tokens      integer NOT NULL,
  messages_removed      integer NOT NULL,
  summary_content       text,
  preserved_message_ids uuid[] NOT NULL DEFAULT '{}',
  model_used            text,
  duration_ms           bigint NOT NULL DEFAULT 0,
  created_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX compaction_events_session_idx ON agentpg.compaction_events (session_id, created_at DESC);

CREATE TABLE agentpg.message_archive (
  id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  message_id          uuid NOT NULL,
  compaction_event_id uuid NOT NULL REFERENCES agentpg.compaction_events (id) ON DELETE CASCADE,
  session_id          uuid NOT NULL REFERENCES agentpg.sessions (id) ON DELETE CASCADE,
  original_message    jsonb NOT NULL,
  archived_at         timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT message_archive_event_message_key UNIQUE (compaction_event_id, message_id)
);
CREATE INDEX message_archive_session_idx ON agentpg.message_archive (session_id, archived_at DESC);
