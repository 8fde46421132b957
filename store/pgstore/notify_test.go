package pgstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agenthook/agenthook/internal/testkit"
)

// TestNotifySpacing: a store that makes work claimable many times in a
// short while notifies the other instances at most once per
// notifySpacing, and the last change is always followed by a
// notification.
func TestNotifySpacing(t *testing.T) {
	old := notifySpacing
	t.Cleanup(func() { notifySpacing = old })
	notifySpacing = 100 * time.Millisecond
	dsn := testkit.Postgres(t)
	s := open(t, dsn, nil)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "LISTEN "+chanTasks); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	creates := 0
	for time.Since(start) < 350*time.Millisecond {
		mustCreate(t, s, fmt.Sprintf("t-%d", creates), fmt.Sprintf("chat-%d", creates))
		creates++
	}
	lastCreate := time.Now()
	elapsed := lastCreate.Sub(start)

	var notes int
	var lastNote time.Time
	for {
		wctx, cancel := context.WithTimeout(ctx, 2*notifySpacing+time.Second)
		_, err := conn.WaitForNotification(wctx)
		cancel()
		if err != nil {
			break // quiet for a while: every notification is in
		}
		notes++
		lastNote = time.Now()
	}
	if most := int(elapsed/notifySpacing) + 2; notes < 1 || notes > most || notes >= creates {
		t.Fatalf("%d creates in %v sent %d notifications; want 1 to %d", creates, elapsed, notes, most)
	}
	if lastNote.Before(lastCreate) {
		t.Fatalf("no notification after the last create")
	}
	t.Logf("%d creates in %v: %d notifications", creates, elapsed, notes)
}
