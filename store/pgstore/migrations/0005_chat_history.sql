-- agenthook schema, version 5: chat histories for stateless backends.

-- A chat's turns as JSON bytes (bytea, not jsonb: jsonb refuses "\u0000"
-- in strings, which a model may well write). chat_created is the
-- created_at of the chat they belong to: a chat made again under the same
-- id (a Cognigy session after its chat expired) starts with none.
CREATE TABLE agenthook_chat_history (
	chat_id      text        PRIMARY KEY,
	chat_created timestamptz NOT NULL,
	turns        bytea       NOT NULL,
	expires_at   timestamptz NOT NULL
);
CREATE INDEX agenthook_chat_history_expires ON agenthook_chat_history (expires_at);
