-- agenthook schema, version 1.
--
-- Times are timestamptz written from the engine's clock (never now()), so
-- that a fake clock in tests and the clocks of several instances agree on
-- what is due. NULL stands for Go's zero time.
--
-- Strings that callers control and agenthook does not check (principals,
-- idempotency and replay keys) are bytea: PostgreSQL text refuses NUL and
-- invalid UTF-8.

-- One sequence orders tasks within a chat and deliveries within an order
-- key, across every instance.
CREATE SEQUENCE agenthook_seq;

CREATE TABLE agenthook_chats (
	id              text        PRIMARY KEY,
	agent           text        NOT NULL,
	principal       bytea       NOT NULL,
	conversation_id bytea       NOT NULL DEFAULT '',
	created_at      timestamptz,
	updated_at      timestamptz,
	expires_at      timestamptz NOT NULL
);
CREATE INDEX agenthook_chats_expires ON agenthook_chats (expires_at);

CREATE TABLE agenthook_tasks (
	id          text        PRIMARY KEY,
	agent       text        NOT NULL,
	chat_id     text        NOT NULL,
	principal   bytea       NOT NULL,
	endpoint    text        NOT NULL DEFAULT '',
	seq         bigint      NOT NULL,
	status      text        NOT NULL CHECK (status IN ('PENDING', 'STARTED', 'SUCCESS', 'FAILURE')),
	-- The request without its body, as JSON (store.Request's encoding).
	request     json        NOT NULL,
	body        bytea,
	result_code int,        -- NULL: no result
	result_type text        NOT NULL DEFAULT '',
	result_body bytea,
	error       text        NOT NULL DEFAULT '',
	attempts    int         NOT NULL DEFAULT 0,
	run_after   timestamptz NOT NULL,
	lease_owner text        NOT NULL DEFAULT '',
	lease_until timestamptz,
	-- due_at is when the task next becomes claimable by time alone:
	-- run_after while PENDING, lease_until while STARTED, NULL when final.
	-- One column lets one index serve both cases of a claim.
	due_at      timestamptz,
	created_at  timestamptz NOT NULL,
	updated_at  timestamptz NOT NULL,
	finished_at timestamptz,
	expires_at  timestamptz,
	sensitive   boolean     NOT NULL DEFAULT false,
	meta        json
);
-- Claims walk unfinished tasks by due time.
CREATE INDEX agenthook_tasks_due ON agenthook_tasks (due_at, seq)
	WHERE status IN ('PENDING', 'STARTED');
-- A chat's head is its unfinished task with the lowest seq.
CREATE INDEX agenthook_tasks_chat ON agenthook_tasks (chat_id, seq)
	WHERE status IN ('PENDING', 'STARTED');
CREATE INDEX agenthook_tasks_expires ON agenthook_tasks (expires_at)
	WHERE expires_at IS NOT NULL;

CREATE TABLE agenthook_idempotency (
	key         bytea       PRIMARY KEY,
	fingerprint bytea       NOT NULL,
	task_id     text        NOT NULL,
	chat_id     text        NOT NULL,
	expires_at  timestamptz NOT NULL
);
CREATE INDEX agenthook_idempotency_expires ON agenthook_idempotency (expires_at);

CREATE TABLE agenthook_deliveries (
	id              text        PRIMARY KEY,
	task_id         text        NOT NULL DEFAULT '',
	agent           text        NOT NULL DEFAULT '',
	chat_id         text        NOT NULL DEFAULT '',
	callback_id     text        NOT NULL,
	order_key       text        NOT NULL DEFAULT '',
	seq             bigint      NOT NULL,
	event_type      text        NOT NULL DEFAULT '',
	payload         bytea,
	status          text        NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
	attempts        json        NOT NULL DEFAULT '[]',
	attempt_count   int         NOT NULL DEFAULT 0,
	next_attempt_at timestamptz,
	lease_owner     text        NOT NULL DEFAULT '',
	lease_until     timestamptz,
	-- next_attempt_at while pending and not leased, lease_until while
	-- leased, NULL when final (see agenthook_tasks.due_at).
	due_at          timestamptz,
	last_error      text        NOT NULL DEFAULT '',
	created_at      timestamptz NOT NULL,
	updated_at      timestamptz NOT NULL,
	expires_at      timestamptz,
	requeued_at     timestamptz
);
CREATE INDEX agenthook_deliveries_due ON agenthook_deliveries (due_at, seq)
	WHERE status = 'pending';
-- Claims capped per callback walk pending deliveries callback by callback.
CREATE INDEX agenthook_deliveries_callback ON agenthook_deliveries (callback_id, due_at, seq)
	WHERE status = 'pending';
-- The head of an order key is its pending delivery with the lowest seq.
CREATE INDEX agenthook_deliveries_order ON agenthook_deliveries (order_key, seq)
	WHERE status = 'pending' AND order_key <> '';
CREATE INDEX agenthook_deliveries_agent ON agenthook_deliveries (agent, created_at DESC, seq DESC);
-- Dead letters by the time they failed, to list and recover them.
CREATE INDEX agenthook_deliveries_failed ON agenthook_deliveries (agent, updated_at DESC, seq DESC)
	WHERE status = 'failed';
CREATE INDEX agenthook_deliveries_expires ON agenthook_deliveries (expires_at)
	WHERE expires_at IS NOT NULL;

CREATE TABLE agenthook_registrations (
	id              text        PRIMARY KEY,
	agent           text        NOT NULL,
	url             text        NOT NULL,
	method          text        NOT NULL DEFAULT '',
	status          text        NOT NULL DEFAULT '',
	secret          text        NOT NULL DEFAULT '',
	format          text        NOT NULL DEFAULT '',
	ordered         boolean     NOT NULL DEFAULT false,
	disabled_reason text        NOT NULL DEFAULT '',
	created_at      timestamptz,
	updated_at      timestamptz
);
CREATE INDEX agenthook_registrations_agent ON agenthook_registrations (agent, created_at);

CREATE TABLE agenthook_callback_states (
	id            text        PRIMARY KEY,
	agent         text        NOT NULL DEFAULT '',
	failing_since timestamptz,
	disabled      boolean     NOT NULL DEFAULT false,
	disabled_at   timestamptz,
	reason        text        NOT NULL DEFAULT '',
	updated_at    timestamptz
);

CREATE TABLE agenthook_replay_keys (
	key        bytea       PRIMARY KEY,
	expires_at timestamptz NOT NULL
);
CREATE INDEX agenthook_replay_keys_expires ON agenthook_replay_keys (expires_at);
