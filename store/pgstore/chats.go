package pgstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/agenthook/agenthook/store"
)

// GetChat implements store.Chats.
func (s *Store) GetChat(ctx context.Context, id string) (*store.Chat, error) {
	if err := s.live(); err != nil {
		return nil, err
	}
	if !validID(id) {
		return nil, store.ErrNotFound
	}
	var c store.Chat
	var principal, conv []byte
	var created, updated, expires pgtype.Timestamptz
	err := s.pool.QueryRow(ctx, `
		SELECT id, agent, principal, conversation_id, created_at, updated_at, expires_at
		FROM agenthook_chats WHERE id = $1 AND expires_at > $2`, id, s.clock()).
		Scan(&c.ID, &c.Agent, &principal, &conv, &created, &updated, &expires)
	if err != nil {
		return nil, wrapErr("reading chat", notFound(err))
	}
	c.Principal, c.ConversationID = string(principal), string(conv)
	c.CreatedAt, c.UpdatedAt, c.ExpiresAt = fromTS(created), fromTS(updated), fromTS(expires)
	return &c, nil
}

// checkChat refuses a chat that cannot be stored.
func checkChat(c *store.Chat) error {
	switch {
	case c == nil || c.ID == "":
		return store.Invalid("a chat needs an id")
	case !validID(c.ID) || !validText(c.Agent):
		return store.Invalid("a chat id and agent must be valid UTF-8 without NUL")
	case c.ExpiresAt.IsZero():
		return store.Invalid("a chat needs an expiry")
	}
	return store.CheckSize("a chat", c.RecordBytes())
}

// upsertChatSQL creates or replaces chats given as parallel arrays.
const upsertChatSQL = `
	INSERT INTO agenthook_chats (id, agent, principal, conversation_id, created_at, updated_at, expires_at)
	SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::bytea[],
		$5::timestamptz[], $6::timestamptz[], $7::timestamptz[])
	ON CONFLICT (id) DO UPDATE SET
		agent = EXCLUDED.agent, principal = EXCLUDED.principal,
		conversation_id = EXCLUDED.conversation_id, created_at = EXCLUDED.created_at,
		updated_at = EXCLUDED.updated_at, expires_at = EXCLUDED.expires_at`

// chatArgs returns upsertChatSQL's arguments for cs, which must have
// distinct ids (one statement cannot update a row twice).
func chatArgs(cs []*store.Chat) []any {
	n := len(cs)
	ids, agents := make([]string, n), make([]string, n)
	principals, convs := make([][]byte, n), make([][]byte, n)
	created, updated, expires := make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n)
	for i, c := range cs {
		ids[i], agents[i] = c.ID, c.Agent
		// Never NULL: NOT NULL columns, and "" must read back as "".
		principals[i], convs[i] = append([]byte{}, c.Principal...), append([]byte{}, c.ConversationID...)
		created[i], updated[i], expires[i] = ts(c.CreatedAt), ts(c.UpdatedAt), ts(c.ExpiresAt)
	}
	return []any{arrayOf(ids), arrayOf(agents), arrayOf(principals), arrayOf(convs), arrayOf(created), arrayOf(updated), arrayOf(expires)}
}

// SaveChat implements store.Chats.
func (s *Store) SaveChat(ctx context.Context, c *store.Chat) error {
	if err := s.live(); err != nil {
		return err
	}
	if err := checkChat(c); err != nil {
		return err
	}
	_, err := s.execAsync(ctx, upsertChatSQL, chatArgs([]*store.Chat{c})...)
	return wrapErr("saving chat", err)
}

// Remember implements store.ReplayGuard. The upsert replaces a key only if
// it has expired, so of two instances remembering the same key at once,
// exactly one sees it fresh.
func (s *Store) Remember(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := s.live(); err != nil {
		return false, err
	}
	now := s.clock()
	tag, err := s.execAsync(ctx, `
		INSERT INTO agenthook_replay_keys AS r (key, expires_at) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET expires_at = EXCLUDED.expires_at
		WHERE r.expires_at <= $3`, []byte(key), now.Add(ttl), now)
	if err != nil {
		return false, wrapErr("remembering replay key", err)
	}
	return tag.RowsAffected() == 1, nil
}

// Forget implements store.ReplayGuard.
func (s *Store) Forget(ctx context.Context, key string) error {
	if err := s.live(); err != nil {
		return err
	}
	_, err := s.execAsync(ctx, `DELETE FROM agenthook_replay_keys WHERE key = $1`, []byte(key))
	return wrapErr("forgetting replay key", err)
}
