-- agenthook schema, version 2.

-- A delivery's place in a chain of agenthook installations calling each
-- other back; sent as X-Agenthook-Hops.
ALTER TABLE agenthook_deliveries ADD COLUMN hops int NOT NULL DEFAULT 0;

-- Values that belong to the whole installation, such as its id.
CREATE TABLE agenthook_settings (
	key   text PRIMARY KEY,
	value text NOT NULL
);
