package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/agenthook/agenthook/handler/admin"
	"github.com/agenthook/agenthook/handler/delivery"
	"github.com/agenthook/agenthook/store"
	"github.com/agenthook/agenthook/store/memstore"
)

// cliFixture is an admin endpoint on httptest, backed by a memstore, for
// the subcommands to call; the e2e tests run them against a real Caddy.
type cliFixture struct {
	t    *testing.T
	st   *memstore.Store
	addr string
}

func newCLIFixture(t *testing.T) *cliFixture {
	t.Helper()
	st := memstore.New(memstore.Options{})
	t.Cleanup(func() { _ = st.Close() })
	rt := &admin.Runtime{
		Store:  st,
		Agents: []string{"support"},
		Static: delivery.Static{"support": {{ID: "cfg-support-0", Agent: "support", URL: "https://hooks.example.com/x?token=t", Method: http.MethodPost}}},
		Now:    time.Now,
	}
	h := &admin.Admin{Runtime: func() (*admin.Runtime, error) { return rt, nil }}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &cliFixture{t: t, st: st, addr: strings.TrimPrefix(srv.URL, "http://")}
}

// run runs `caddy agenthook <args>` against the fixture.
func (f *cliFixture) run(args ...string) (stdout, stderr string, err error) {
	root := &cobra.Command{Use: "agenthook", SilenceErrors: true}
	root.AddCommand(adminCommands()...)
	var out, errw bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errw)
	// The address goes before a "--", after which everything is an id.
	if i := slices.Index(args, "--"); i >= 0 {
		args = slices.Concat(args[:i], []string{"--address", f.addr}, args[i:])
	} else {
		args = append(args, "--address", f.addr)
	}
	root.SetArgs(args)
	err = root.ExecuteContext(context.Background())
	return out.String(), errw.String(), err
}

// deadLetters stores a finished task with n failed deliveries.
func (f *cliFixture) deadLetters(n int) []string {
	f.t.Helper()
	ctx := context.Background()
	task := &store.Task{ID: "task1", Agent: "support", ChatID: "chat1", Request: store.Request{Method: "POST", Path: "/"}}
	if _, err := f.st.CreateTask(ctx, store.NewTask{Task: task}); err != nil {
		f.t.Fatal(err)
	}
	if _, _, err := f.st.ClaimTasks(ctx, store.Claim{Owner: "o", Limit: 1, Lease: time.Hour}); err != nil {
		f.t.Fatal(err)
	}
	var ds []*store.Delivery
	var ids []string
	for i := range n {
		id := "msg_" + string(rune('a'+i))
		ds, ids = append(ds, &store.Delivery{ID: id, TaskID: task.ID, Agent: "support", CallbackID: "cfg-support-0", EventType: "task.succeeded", Payload: []byte("{}")}), append(ids, id)
	}
	exp := time.Now().Add(time.Hour)
	if err := f.st.FinishTask(ctx, store.TaskFinish{ID: task.ID, Owner: "o", Status: store.TaskSuccess, ExpiresAt: exp, Deliveries: ds}); err != nil {
		f.t.Fatal(err)
	}
	claimed, _, err := f.st.ClaimDeliveries(ctx, store.DeliveryClaim{Owner: "d", Limit: 100, Lease: time.Hour})
	if err != nil {
		f.t.Fatal(err)
	}
	for _, d := range claimed {
		err := f.st.RecordAttempt(ctx, store.DeliveryOutcome{ID: d.ID, Owner: "d", Status: store.DeliveryFailed, ExpiresAt: exp,
			Attempt: store.Attempt{At: time.Now(), StatusCode: 503, Error: "the receiver answered 503 Service Unavailable"}})
		if err != nil {
			f.t.Fatal(err)
		}
	}
	return ids
}

func TestCLITables(t *testing.T) {
	t.Parallel()
	f := newCLIFixture(t)
	ids := f.deadLetters(3)

	out, _, err := f.run("status")
	if err != nil || !strings.Contains(out, "deliveries  0        -        3") || !strings.Contains(out, "support") {
		t.Fatalf("status: %v\n%s", err, out)
	}
	out, _, err = f.run("tasks")
	if err != nil || !strings.HasPrefix(out, "PENDING  STARTED\n0        0") {
		t.Fatalf("tasks: %v\n%s", err, out)
	}
	out, _, err = f.run("tasks", "task1")
	if err != nil || !strings.Contains(out, "status    SUCCESS") {
		t.Fatalf("tasks task1: %v\n%s", err, out)
	}
	out, _, err = f.run("deliveries", "--limit", "2")
	if err != nil || !strings.Contains(out, "LAST ERROR") || strings.Count(out, "msg_") != 2 || !strings.Contains(out, "--cursor o2") {
		t.Fatalf("deliveries page: %v\n%s", err, out)
	}
	out, _, err = f.run("deliveries", "--limit", "2", "--all", "--json")
	var page admin.DeliveryPage
	if err != nil || json.Unmarshal([]byte(out), &page) != nil || len(page.Data) != 3 {
		t.Fatalf("deliveries --all --json: %v\n%s", err, out)
	}
	out, _, err = f.run("deliveries", ids[0])
	if err != nil || !strings.Contains(out, "503") || !strings.Contains(out, "callback    cfg-support-0") {
		t.Fatalf("one delivery: %v\n%s", err, out)
	}
	out, _, err = f.run("retry", ids[0])
	if err != nil || !strings.Contains(out, "is pending again") {
		t.Fatalf("retry: %v\n%s", err, out)
	}
	out, stderr, err := f.run("recover", "--dry-run", "--since", "1h")
	if err != nil || !strings.Contains(out, "WOULD BE RECOVERED") || !strings.Contains(out, "total    2") || !strings.Contains(stderr, "support: 2 would be recovered") {
		t.Fatalf("recover --dry-run: %v\n%s\n%s", err, out, stderr)
	}
	out, stderr, err = f.run("recover", "--json")
	var res admin.RecoverResult
	if err != nil || json.Unmarshal([]byte(out), &res) != nil || res.Recovered != 2 || !strings.Contains(stderr, "support: 2 recovered") {
		t.Fatalf("recover --json: %v\n%s\n%s", err, out, stderr)
	}
	out, _, err = f.run("callbacks", "disable", "cfg-support-0", "--reason", "maintenance")
	if err != nil || !strings.Contains(out, "disabled") || !strings.Contains(out, "maintenance") || strings.Contains(out, "token") {
		t.Fatalf("callbacks disable: %v\n%s", err, out)
	}
	out, _, err = f.run("callbacks")
	if err != nil || !strings.Contains(out, "https://hooks.example.com ") {
		t.Fatalf("callbacks: %v\n%s", err, out)
	}
	if _, _, err = f.run("callbacks", "enable", "cfg-support-0"); err != nil {
		t.Fatal(err)
	}
	// An id that begins with '-' (older ids could) goes after "--"; without
	// it, the error says so.
	if _, _, err = f.run("tasks", "-OKSlxlDR_z4hp7iz-XBFg"); err == nil || !strings.Contains(err.Error(), "goes after --") {
		t.Fatalf("an id read as a flag: %v", err)
	}
	if _, _, err = f.run("tasks", "--", "-OKSlxlDR_z4hp7iz-XBFg"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("an id after --: %v", err)
	}
	_, _, err = f.run("retry", "msg_nope")
	if err == nil || err.Error() != "no such delivery (HTTP 404)" {
		t.Fatalf("retry of an unknown delivery: %v", err)
	}
	if _, _, err = f.run("recover", "--since", "yesterday"); err == nil || !strings.Contains(err.Error(), "--since") {
		t.Fatalf("a bad --since: %v", err)
	}
}

func TestCLIRecoverWaits(t *testing.T) {
	t.Parallel()
	f := newCLIFixture(t)
	f.deadLetters(2)
	// Nothing delivers here: the wait sees them pending and gives up.
	_, stderr, err := f.run("recover", "--wait", "--timeout", "300ms", "--interval", "100ms")
	if err == nil || !strings.Contains(err.Error(), "2 deliveries still pending") || !strings.Contains(stderr, "deliveries: 2 pending, 0 failed") {
		t.Fatalf("recover --wait: %v\n%s", err, stderr)
	}
}
