-- agenthook schema, version 6: a chat's head task is marked.
--
-- Claims used to walk every unfinished task by due time and test each for
-- being its chat's head (no unfinished task of its chat with a lower seq).
-- With a backlog queued behind running chats, nearly all of them fail the
-- test, and every claim (and every next-due query) walked the whole
-- backlog: thousands of index probes per claim. head is true exactly for
-- a chat's unfinished task with the lowest seq. An insert sets it when
-- its chat has no unfinished task; a finish clears it and sets it on the
-- chat's next task. Both take the chat's head advisory lock (class
-- "aghh", key hashtext(chat_id)) first, so that neither misses the other.
--
-- Instances of an older version neither set nor move it; newer instances
-- repair that every few seconds (heal.go).
ALTER TABLE agenthook_tasks ADD COLUMN head boolean NOT NULL DEFAULT false;
UPDATE agenthook_tasks t SET head = true
WHERE t.status IN ('PENDING', 'STARTED') AND NOT EXISTS (
	SELECT 1 FROM agenthook_tasks p
	WHERE p.chat_id = t.chat_id AND p.status IN ('PENDING', 'STARTED') AND p.seq < t.seq);
-- Claims walk chat heads by due time.
CREATE INDEX agenthook_tasks_head ON agenthook_tasks (due_at, seq) WHERE head;
