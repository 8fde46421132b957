package pgstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/agenthook/agenthook/store"
)

const regCols = `id, agent, url, method, status, secret, format, ordered, disabled_reason, created_at, updated_at, options`

func checkRegistration(r *store.Registration) error {
	if r == nil || r.ID == "" || r.Agent == "" {
		return store.Invalid("a registration needs an id and an agent")
	}
	for _, f := range []string{r.ID, r.Agent, r.URL, r.Method, r.Status, r.Secret, r.Format} {
		if !validText(f) {
			return store.Invalid("registration fields must be valid UTF-8 without NUL")
		}
	}
	return store.CheckSize("a registration", r.RecordBytes())
}

// mustJSON encodes registration options; they are plain data, so it cannot
// fail. Its output is valid UTF-8 with NUL escaped, which the json column
// takes as it is.
func mustJSON(o store.RegistrationOptions) []byte {
	b, _ := json.Marshal(o)
	return b
}

// optionsArg is the options column's value: NULL when there are none.
func optionsArg(o store.RegistrationOptions) any {
	b := mustJSON(o)
	if string(b) == "{}" {
		return nil
	}
	return string(b)
}

func regArgs(r *store.Registration) []any {
	return []any{r.ID, r.Agent, r.URL, r.Method, r.Status, r.Secret, r.Format, r.Ordered,
		cleanText(r.DisabledReason), ts(r.CreatedAt), ts(r.UpdatedAt), optionsArg(r.Options)}
}

func scanRegistration(row pgx.Row) (*store.Registration, error) {
	var r store.Registration
	var created, updated pgtype.Timestamptz
	var options []byte
	err := row.Scan(&r.ID, &r.Agent, &r.URL, &r.Method, &r.Status, &r.Secret, &r.Format, &r.Ordered,
		&r.DisabledReason, &created, &updated, &options)
	if err != nil {
		return nil, err
	}
	r.CreatedAt, r.UpdatedAt = fromTS(created), fromTS(updated)
	if len(options) > 0 {
		if err := json.Unmarshal(options, &r.Options); err != nil {
			return nil, fmt.Errorf("decoding a registration's options: %w", err)
		}
	}
	return &r, nil
}

// lockClassRegistrations is the advisory lock class under which the
// registrations of one agent are counted and inserted, so that instances
// registering at once cannot both take the last place.
const lockClassRegistrations int32 = 0x61676877 // "aghw"

// CreateRegistration implements store.Registrations.
func (s *Store) CreateRegistration(ctx context.Context, r *store.Registration, limit int) error {
	if err := s.live(); err != nil {
		return err
	}
	if err := checkRegistration(r); err != nil {
		return err
	}
	insert := `INSERT INTO agenthook_registrations (` + regCols + `)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::text::json)`
	var err error
	if limit <= 0 {
		_, err = s.pool.Exec(ctx, insert, regArgs(r)...)
	} else {
		err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			// Two statements: the count's snapshot must be taken after
			// the lock, to see what the previous holder inserted.
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, lockClassRegistrations, lockKey(r.Agent)); err != nil {
				return err
			}
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM agenthook_registrations WHERE agent = $1`, r.Agent).Scan(&n); err != nil {
				return err
			}
			if n >= limit {
				return store.ErrLimitReached
			}
			_, err := tx.Exec(ctx, insert, regArgs(r)...)
			return err
		})
	}
	if isUniqueViolation(err) {
		return &store.Error{Op: "creating registration", Kind: store.ErrInvalid, Detail: "the registration id is already used", Err: err}
	}
	return wrapErr("creating registration", err)
}

// GetRegistration implements store.Registrations.
func (s *Store) GetRegistration(ctx context.Context, id string) (*store.Registration, error) {
	if err := s.live(); err != nil {
		return nil, err
	}
	if !validID(id) {
		return nil, store.ErrNotFound
	}
	r, err := scanRegistration(s.pool.QueryRow(ctx, `SELECT `+regCols+` FROM agenthook_registrations WHERE id = $1`, id))
	if err != nil {
		return nil, wrapErr("reading registration", notFound(err))
	}
	return r, nil
}

// ListRegistrations implements store.Registrations.
func (s *Store) ListRegistrations(ctx context.Context, agent string) ([]*store.Registration, error) {
	if err := s.live(); err != nil {
		return nil, err
	}
	if !validText(agent) {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT `+regCols+` FROM agenthook_registrations
		WHERE $1 = '' OR agent = $1 ORDER BY created_at, id`, agent)
	if err != nil {
		return nil, wrapErr("listing registrations", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.Registration, error) {
		return scanRegistration(row)
	})
	return out, wrapErr("listing registrations", err)
}

// UpdateRegistration implements store.Registrations.
func (s *Store) UpdateRegistration(ctx context.Context, r *store.Registration) error {
	if err := s.live(); err != nil {
		return err
	}
	if err := checkRegistration(r); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `UPDATE agenthook_registrations SET
		agent = $2, url = $3, method = $4, status = $5, secret = $6, format = $7, ordered = $8,
		disabled_reason = $9, created_at = $10, updated_at = $11, options = $12::text::json
		WHERE id = $1`, regArgs(r)...)
	if err != nil {
		return wrapErr("updating registration", err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

// DeleteRegistration implements store.Registrations.
func (s *Store) DeleteRegistration(ctx context.Context, id string) error {
	if err := s.live(); err != nil {
		return err
	}
	if !validID(id) {
		return store.ErrNotFound
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM agenthook_registrations WHERE id = $1`, id)
	if err != nil {
		return wrapErr("deleting registration", err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

// ListCallbackStates implements store.CallbackStates.
func (s *Store) ListCallbackStates(ctx context.Context) ([]*store.CallbackState, error) {
	if err := s.live(); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT id, agent, failing_since, disabled, disabled_at, reason, updated_at
		FROM agenthook_callback_states ORDER BY id`)
	if err != nil {
		return nil, wrapErr("listing callback states", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.CallbackState, error) {
		var cs store.CallbackState
		var failing, disabled, updated pgtype.Timestamptz
		if err := row.Scan(&cs.ID, &cs.Agent, &failing, &cs.Disabled, &disabled, &cs.Reason, &updated); err != nil {
			return nil, err
		}
		cs.FailingSince, cs.DisabledAt, cs.UpdatedAt = fromTS(failing), fromTS(disabled), fromTS(updated)
		return &cs, nil
	})
	return out, wrapErr("listing callback states", err)
}

// SaveCallbackState implements store.CallbackStates.
func (s *Store) SaveCallbackState(ctx context.Context, cs *store.CallbackState) error {
	if err := s.live(); err != nil {
		return err
	}
	if cs == nil || cs.ID == "" {
		return store.Invalid("a callback state needs an id")
	}
	if !validID(cs.ID) || !validText(cs.Agent) {
		return store.Invalid("a callback state's id and agent must be valid UTF-8 without NUL")
	}
	if err := store.CheckSize("a callback state", cs.RecordBytes()); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO agenthook_callback_states (id, agent, failing_since, disabled, disabled_at, reason, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (id) DO UPDATE SET agent = EXCLUDED.agent, failing_since = EXCLUDED.failing_since,
			disabled = EXCLUDED.disabled, disabled_at = EXCLUDED.disabled_at,
			reason = EXCLUDED.reason, updated_at = EXCLUDED.updated_at`,
		cs.ID, cs.Agent, ts(cs.FailingSince), cs.Disabled, ts(cs.DisabledAt), cleanText(cs.Reason), ts(cs.UpdatedAt))
	return wrapErr("saving callback state", err)
}

// DeleteCallbackState implements store.CallbackStates.
func (s *Store) DeleteCallbackState(ctx context.Context, id string) error {
	if err := s.live(); err != nil {
		return err
	}
	if !validID(id) {
		return nil
	}
	_, err := s.pool.Exec(ctx, `DELETE FROM agenthook_callback_states WHERE id = $1`, id)
	return wrapErr("deleting callback state", err)
}
