package pgstore

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/agenthook/agenthook/internal/testkit"
)

// TestAsyncCommitScoped checks that asyncCommitSQL applies to the rest of
// its pipeline's transaction, and to nothing after it on the connection.
func TestAsyncCommitScoped(t *testing.T) {
	ctx := context.Background()
	s := open(t, testkit.Postgres(t), nil)
	conn, err := s.Pool().Acquire(ctx)
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	defer conn.Release()
	b := &pgx.Batch{}
	b.Queue(asyncCommitSQL)
	b.Queue(`SELECT current_setting('synchronous_commit')`)
	br := conn.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		t.Fatalf("asyncCommitSQL: %v", err)
	}
	var inside string
	if err := br.QueryRow().Scan(&inside); err != nil {
		t.Fatalf("reading the setting: %v", err)
	}
	if err := br.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	var after string
	if err := conn.QueryRow(ctx, `SELECT current_setting('synchronous_commit')`).Scan(&after); err != nil {
		t.Fatalf("reading the setting: %v", err)
	}
	if inside != "off" || after != "on" {
		t.Fatalf("synchronous_commit = %q in the pipeline and %q after it; want off, then on", inside, after)
	}
}
