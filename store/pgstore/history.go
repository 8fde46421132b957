package pgstore

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/agenthook/agenthook/handler/history"
	"github.com/agenthook/agenthook/store"
)

// queryRower is a pool or a transaction.
type queryRower interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// chatHistory reads the history of k's chat: ErrNotFound when the chat
// is not live or not k's; no turns when it has none, or they belong to
// an earlier chat of the same id. lock takes the chat's row for the
// transaction, so that appends to one chat, from any instance, run one
// after the other.
func (s *Store) chatHistory(ctx context.Context, q queryRower, k store.HistoryKey, lock bool) ([]history.Turn, pgtype.Timestamptz, pgtype.Timestamptz, error) {
	var created, expires pgtype.Timestamptz
	var agent string
	var principal []byte
	sql := `SELECT agent, principal, created_at, expires_at FROM agenthook_chats WHERE id = $1 AND expires_at > $2`
	if lock {
		sql += ` FOR UPDATE`
	}
	err := q.QueryRow(ctx, sql, k.ChatID, s.clock()).Scan(&agent, &principal, &created, &expires)
	if err != nil {
		return nil, created, expires, notFound(err)
	}
	if !store.OwnsChat(&store.Chat{ID: k.ChatID, Agent: agent, Principal: string(principal)}, k) {
		return nil, created, expires, store.ErrNotFound
	}
	var raw []byte
	err = q.QueryRow(ctx, `SELECT turns FROM agenthook_chat_history WHERE chat_id = $1 AND chat_created = $2`, k.ChatID, created).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, created, expires, nil
	}
	if err != nil {
		return nil, created, expires, err
	}
	var turns []history.Turn
	if err := json.Unmarshal(raw, &turns); err != nil {
		return nil, created, expires, store.Invalid("a stored chat history is not JSON")
	}
	return turns, created, expires, nil
}

// History implements store.ChatHistories.
func (s *Store) History(ctx context.Context, k store.HistoryKey) ([]history.Turn, error) {
	if err := s.live(); err != nil {
		return nil, err
	}
	if !validID(k.ChatID) {
		return nil, store.ErrNotFound
	}
	turns, _, _, err := s.chatHistory(ctx, s.pool, k, false)
	if err != nil {
		return nil, wrapErr("reading chat history", err)
	}
	return turns, nil
}

// AppendHistory implements store.ChatHistories.
func (s *Store) AppendHistory(ctx context.Context, a store.HistoryAppend) error {
	if err := s.live(); err != nil {
		return err
	}
	if err := store.CheckHistoryAppend(a); err != nil {
		return err
	}
	if !validID(a.ChatID) {
		return store.ErrNotFound
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		turns, created, expires, err := s.chatHistory(ctx, tx, a.HistoryKey, true)
		if err != nil {
			return err
		}
		raw, err := json.Marshal(history.Append(turns, a.Limits, a.Turns...))
		if err != nil {
			return err
		}
		exp := ts(a.ExpiresAt)
		if fromTS(expires).After(a.ExpiresAt) {
			exp = expires
		}
		_, err = tx.Exec(ctx, `
			INSERT INTO agenthook_chat_history (chat_id, chat_created, turns, expires_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (chat_id) DO UPDATE SET chat_created = EXCLUDED.chat_created, turns = EXCLUDED.turns, expires_at = EXCLUDED.expires_at`,
			a.ChatID, created, raw, exp)
		return err
	})
	return wrapErr("appending to chat history", err)
}
