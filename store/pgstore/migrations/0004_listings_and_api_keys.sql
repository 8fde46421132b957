-- agenthook schema, version 4. (Version 3 comes from another change.)

-- Listings page newest first by (time, id): ids in byte order (COLLATE
-- "C"), the same on every server whatever its locale. These replace the
-- indexes that ordered by seq, which changes when a delivery is replayed.
DROP INDEX agenthook_deliveries_agent;
DROP INDEX agenthook_deliveries_failed;
CREATE INDEX agenthook_deliveries_agent ON agenthook_deliveries (agent, created_at DESC, id COLLATE "C" DESC);
CREATE INDEX agenthook_deliveries_failed ON agenthook_deliveries (agent, updated_at DESC, id COLLATE "C" DESC)
	WHERE status = 'failed';
-- The delivery log filtered on a callback or a task.
CREATE INDEX agenthook_deliveries_agent_callback ON agenthook_deliveries (agent, callback_id, created_at DESC, id COLLATE "C" DESC);
CREATE INDEX agenthook_deliveries_task ON agenthook_deliveries (task_id);

-- Task listings: all tasks, one agent's, one chat's.
CREATE INDEX agenthook_tasks_created ON agenthook_tasks (created_at DESC, id COLLATE "C" DESC);
CREATE INDEX agenthook_tasks_agent_created ON agenthook_tasks (agent, created_at DESC, id COLLATE "C" DESC);
CREATE INDEX agenthook_tasks_chat_created ON agenthook_tasks (chat_id, created_at DESC, id COLLATE "C" DESC);

-- Management API keys minted through the API. Only their SHA-256 is kept.
CREATE TABLE agenthook_api_keys (
	id         text        PRIMARY KEY,
	hash       text        NOT NULL UNIQUE,
	name       text        NOT NULL DEFAULT '',
	agents     text[]      NOT NULL,
	read_only  boolean     NOT NULL DEFAULT false,
	created_by text        NOT NULL DEFAULT '',
	created_at timestamptz NOT NULL,
	expires_at timestamptz
);
CREATE INDEX agenthook_api_keys_expires ON agenthook_api_keys (expires_at)
	WHERE expires_at IS NOT NULL;
