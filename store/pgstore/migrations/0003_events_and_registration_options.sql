-- agenthook schema, version 3.

-- The Standard Webhooks webhook-id of a delivery's event: one event has
-- one, shared by all of its deliveries. Empty in deliveries stored before:
-- their id stands in.
ALTER TABLE agenthook_deliveries ADD COLUMN message_id text NOT NULL DEFAULT '';

-- A registration's settings beyond Tess's fields (events, filter, endpoint,
-- headers, basic auth, hmac, previous secrets, concurrency, retry schedule,
-- timeout, rate limit), as store.RegistrationOptions' JSON; NULL for none.
ALTER TABLE agenthook_registrations ADD COLUMN options json;
