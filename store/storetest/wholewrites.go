package storetest

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/agenthook/agenthook/store"
)

// wholeWriteTests cover the size limit, the atomicity of operations that
// fail, and the safety of error texts.
var wholeWriteTests = []test{
	{"CreateTooLarge", testCreateTooLarge},
	{"CreateAtTheLimit", testCreateAtLimit},
	{"FinishTooLargeDelivery", testFinishTooLargeDelivery},
	{"FinishTooLargeResult", testFinishTooLargeResult},
	{"TooLargeBesideSmallWrites", testTooLargeConcurrent},
	{"AttemptTooLarge", testAttemptTooLarge},
	{"OtherRecordsTooLarge", testOtherTooLarge},
	{"FinalNeverClaimedAgain", testFinalNeverClaimed},
	{"ReclaimedTaskKeepsBody", testReclaimKeepsBody},
	{"ErrorsPrintNoData", testErrorsSafe},
}

// marker fills the values of these tests, so that an error text quoting
// them (or a hex dump of them) is caught.
const marker = "s3cr3t-r3c0rd-byt3s|"

// markerBytes returns n bytes of marker.
func markerBytes(n int) []byte {
	return bytes.Repeat([]byte(marker), n/len(marker)+1)[:n]
}

// wantSafe fails if err's text quotes the marker, raw or hex-dumped.
func (h *harness) wantSafe(what string, err error) {
	h.Helper()
	if err == nil {
		return
	}
	text := err.Error()
	for _, s := range []string{marker[:8], hex.EncodeToString([]byte(marker[:8])), hex.Dump([]byte(marker))[10:33]} {
		if strings.Contains(text, s) {
			h.Fatalf("%s: the error quotes record bytes (%q): %.200q", what, s, text)
		}
	}
}

// wantTooLarge checks that err is ErrTooLarge with a safe text.
func (h *harness) wantTooLarge(what string, err error) {
	h.Helper()
	h.wantErr(what, err, store.ErrTooLarge)
	h.wantSafe(what, err)
}

// wantHeld checks that a refused finish left the task as its claim made
// it: STARTED, held by owner, with its request body.
func (h *harness) wantHeld(t *store.Task, owner string) {
	h.Helper()
	g := h.get(t.ID)
	if g.Status != store.TaskStarted || g.LeaseOwner != owner || g.Result != nil || g.Error != "" {
		h.Fatalf("task after a refused finish: %s owned by %q, result %v, error %q; want STARTED by %s, untouched",
			g.Status, g.LeaseOwner, g.Result != nil, g.Error, owner)
	}
	wantBytes(h, "request body after a refused finish", g.Request.Body, t.Request.Body)
}

func testCreateTooLarge(h *harness) {
	chat := h.newChat("agent-a")
	t := h.newTask("agent-a", chat.ID)
	t.Request.Body = markerBytes(store.MaxRecordBytes + 1)
	_, err := h.createIdem(t, chat, "key-1", "fp-1", h.now().Add(time.Hour))
	h.wantTooLarge("CreateTask over the limit", err)
	_, err = h.s.GetTask(h.ctx, t.ID)
	h.wantErr("GetTask(refused task)", err, store.ErrNotFound)
	_, err = h.s.GetChat(h.ctx, chat.ID)
	h.wantErr("GetChat(chat of a refused task)", err, store.ErrNotFound)
	h.wantTaskCounts(0, 0)
	// The key was not taken: a request that fits creates a task.
	small := h.newTask("agent-a", chat.ID)
	c, err := h.createIdem(small, chat, "key-1", "fp-2", h.now().Add(time.Hour))
	if err != nil || c.Replayed || c.Task.ID != small.ID {
		h.Fatalf("CreateTask with the key of a refused task = %+v, %v; want a new task", c, err)
	}
	// Headers count too.
	t2 := h.newTask("agent-a", "chat-2")
	t2.Request.Header.Set("X-Big", string(markerBytes(store.MaxRecordBytes)))
	_, err = h.s.CreateTask(h.ctx, store.NewTask{Task: t2})
	h.wantTooLarge("CreateTask with headers over the limit", err)
	h.wantTaskCounts(1, 0)
}

func testCreateAtLimit(h *harness) {
	t := h.newTask("agent-a", "chat-1")
	t.Request.Body = nil
	t.Request.Body = markerBytes(store.MaxRecordBytes - t.RecordBytes())
	if n := t.RecordBytes(); n != store.MaxRecordBytes {
		h.Fatalf("the test task weighs %d, want %d", n, store.MaxRecordBytes)
	}
	h.create(t)
	got := h.claim("w1", 1)
	if len(got) != 1 {
		h.Fatalf("claimed %v, want the task at the limit", ids(got))
	}
	wantBytes(h, "claimed body at the limit", got[0].Request.Body, t.Request.Body)
	// Its result may weigh as much as the request did: the body is gone.
	f := store.TaskFinish{ID: t.ID, Owner: "w1", Status: store.TaskSuccess, ExpiresAt: h.now().Add(time.Hour),
		Result: &store.Result{StatusCode: 200}}
	f.Result.Body = markerBytes(store.MaxRecordBytes - f.RecordBytes(got[0]))
	if err := h.s.FinishTask(h.ctx, f); err != nil {
		h.Fatalf("FinishTask with a result at the limit: %v", err)
	}
	wantBytes(h, "result at the limit", h.get(t.ID).Result.Body, f.Result.Body)
}

// startedInChat creates a task in a chat with a conversation id and
// claims it for w1.
func (h *harness) startedInChat() (*store.Task, *store.Chat) {
	h.Helper()
	chat := h.newChat("agent-a")
	chat.ConversationID = "conv-0"
	t := h.newTask("agent-a", chat.ID)
	t.Request.Body = binary(2000, 9)
	if _, err := h.s.CreateTask(h.ctx, store.NewTask{Task: t, Chat: chat}); err != nil {
		h.Fatalf("CreateTask: %v", err)
	}
	got := h.claim("w1", 1)
	if len(got) != 1 || got[0].ID != t.ID {
		h.Fatalf("claimed %v, want [%s]", ids(got), t.ID)
	}
	return t, chat
}

func testFinishTooLargeDelivery(h *harness) {
	t, chat := h.startedInChat()
	good := h.newDelivery("agent-a", "cb-1", "k", []byte("fits"))
	huge := h.newDelivery("agent-a", "cb-2", "k", markerBytes(store.MaxRecordBytes+1))
	err := h.s.FinishTask(h.ctx, store.TaskFinish{
		ID: t.ID, Owner: "w1", Status: store.TaskSuccess, ExpiresAt: h.now().Add(time.Hour),
		Result:         &store.Result{StatusCode: 200, Body: []byte("ok")},
		ConversationID: "conv-new", ChatExpiresAt: h.now().Add(72 * time.Hour),
		Deliveries: []*store.Delivery{good, huge},
	})
	h.wantTooLarge("FinishTask with a delivery over the limit", err)
	h.wantHeld(t, "w1")
	for _, d := range []*store.Delivery{good, huge} {
		_, err := h.s.GetDelivery(h.ctx, d.ID)
		h.wantErr("GetDelivery of a refused finish", err, store.ErrNotFound)
	}
	h.wantDeliveryCounts(0, 0)
	h.wantChat(chat)
	h.wantTaskCounts(0, 1)
	if got := h.claimDeliveries("d1", 10); len(got) != 0 {
		h.Fatalf("claimed deliveries %v of a refused finish", ids(got))
	}
	// The holder can still finish it, with what fits.
	h.finish(t.ID, "w1", good)
	h.wantDeliveryCounts(1, 0)
}

func testFinishTooLargeResult(h *harness) {
	t, chat := h.startedInChat()
	err := h.s.FinishTask(h.ctx, store.TaskFinish{
		ID: t.ID, Owner: "w1", Status: store.TaskSuccess, ExpiresAt: h.now().Add(time.Hour),
		Result:         &store.Result{StatusCode: 200, Body: markerBytes(store.MaxRecordBytes + 1)},
		ConversationID: "conv-new",
		Deliveries:     []*store.Delivery{h.newDelivery("agent-a", "cb-1", "", []byte("x"))},
	})
	h.wantTooLarge("FinishTask with a result over the limit", err)
	h.wantHeld(t, "w1")
	h.wantDeliveryCounts(0, 0)
	h.wantChat(chat)
	// After the lease, another worker gets the task whole, request body
	// and all: a refused finish must not turn into a task run again
	// without its request.
	h.clock.Advance(lease + time.Minute)
	got := h.claim("w2", 10)
	if len(got) != 1 || got[0].ID != t.ID || got[0].Attempts != 2 {
		h.Fatalf("w2 claimed %v, want %s on its second attempt", ids(got), t.ID)
	}
	wantBytes(h, "request body of the task claimed again", got[0].Request.Body, t.Request.Body)
	err = h.s.FinishTask(h.ctx, store.TaskFinish{ID: t.ID, Owner: "w1", Status: store.TaskFailure, ExpiresAt: h.now().Add(time.Hour)})
	h.wantErr("FinishTask by the old owner", err, store.ErrLeaseLost)
	h.finish(t.ID, "w2")
}

// testTooLargeConcurrent refuses one over-size finish while many small
// writes happen at the same moment, so that engines that commit
// concurrent operations together (group commit) share a transaction
// between them: the small writes must all succeed, whole, and nothing of
// the refused one may appear.
func testTooLargeConcurrent(h *harness) {
	const n = 12
	big, bigChat := h.startedInChat()
	var small []*store.Task
	for range n {
		small = append(small, h.started("agent-s"))
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	var bigErr error
	wg.Go(func() {
		<-start
		bigErr = h.s.FinishTask(h.ctx, store.TaskFinish{
			ID: big.ID, Owner: "w1", Status: store.TaskSuccess, ExpiresAt: h.now().Add(time.Hour),
			Result:         &store.Result{StatusCode: 200, Body: markerBytes(store.MaxRecordBytes / 2)},
			ConversationID: "conv-new",
			Deliveries: []*store.Delivery{
				h.newDelivery("agent-a", "cb-1", "", []byte("fits")),
				h.newDelivery("agent-a", "cb-1", "", markerBytes(store.MaxRecordBytes+1)),
			},
		})
	})
	created := make([]*store.Task, n)
	for i, t := range small {
		wg.Go(func() {
			<-start
			d := h.newDelivery("agent-s", "cb-s", "", []byte(t.ID))
			d.TaskID = t.ID
			err := h.s.FinishTask(h.ctx, store.TaskFinish{
				ID: t.ID, Owner: "w1", Status: store.TaskSuccess, ExpiresAt: h.now().Add(time.Hour),
				Result: &store.Result{StatusCode: 200, Body: []byte("ok")}, Deliveries: []*store.Delivery{d},
			})
			if err != nil {
				h.Errorf("FinishTask(%s) beside the refused one: %v", t.ID, err)
			}
		})
		wg.Go(func() {
			<-start
			nt := h.newTask("agent-c", fmt.Sprint("chat-c", i))
			if _, err := h.s.CreateTask(h.ctx, store.NewTask{Task: nt}); err != nil {
				h.Errorf("CreateTask beside the refused finish: %v", err)
				return
			}
			created[i] = nt
		})
		wg.Go(func() {
			<-start
			if fresh, err := h.s.Remember(h.ctx, fmt.Sprint("msg-", i), time.Hour); err != nil || !fresh {
				h.Errorf("Remember beside the refused finish = %v, %v", fresh, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if h.Failed() {
		h.FailNow()
	}
	h.wantTooLarge("the over-size FinishTask", bigErr)
	h.wantHeld(big, "w1")
	h.wantChat(bigChat)
	for _, t := range small {
		if g := h.get(t.ID); g.Status != store.TaskSuccess || g.Result == nil {
			h.Fatalf("small task %s: %s, result %v; want SUCCESS with its result", t.ID, g.Status, g.Result)
		}
	}
	for _, t := range created {
		wantBytes(h, "task created beside the refused finish", h.get(t.ID).Request.Body, t.Request.Body)
	}
	h.wantDeliveryCounts(n, 0)
	for _, d := range h.claimDeliveries("d1", 100) {
		if d.CallbackID != "cb-s" {
			h.Fatalf("claimed delivery %s to %s: a delivery of the refused finish was stored", d.ID, d.CallbackID)
		}
	}
}

func testAttemptTooLarge(h *harness) {
	d := h.dlv("agent-a", "cb-1", "")
	h.claimDeliveries("d1", 10)
	err := h.s.RecordAttempt(h.ctx, store.DeliveryOutcome{
		ID: d.ID, Owner: "d1", Status: store.DeliveryFailed, ExpiresAt: h.now().Add(time.Hour),
		Attempt: store.Attempt{At: h.now(), StatusCode: 500, Response: string(markerBytes(store.MaxRecordBytes + 1))},
	})
	h.wantTooLarge("RecordAttempt over the limit", err)
	if g := h.getDelivery(d.ID); g.Status != store.DeliveryPending || g.AttemptCount != 0 || len(g.Attempts) != 0 {
		h.Fatalf("delivery after a refused attempt: %s, %d attempts", g.Status, g.AttemptCount)
	}
	h.wantDeliveryCounts(1, 0)
	// The holder still holds it.
	h.record(d.ID, "d1", store.DeliveryDelivered, time.Time{})
}

func testOtherTooLarge(h *harness) {
	huge := string(markerBytes(store.MaxRecordBytes + 1))
	chat := h.newChat("agent-a")
	chat.ConversationID = huge
	h.wantTooLarge("SaveChat over the limit", h.s.SaveChat(h.ctx, chat))
	_, err := h.s.GetChat(h.ctx, chat.ID)
	h.wantErr("GetChat(refused chat)", err, store.ErrNotFound)

	t := h.newTask("agent-a", "chat-1")
	_, err = h.s.CreateTask(h.ctx, store.NewTask{Task: t, Chat: chat})
	h.wantTooLarge("CreateTask with a chat over the limit", err)
	_, err = h.s.GetTask(h.ctx, t.ID)
	h.wantErr("GetTask(task with a refused chat)", err, store.ErrNotFound)

	reg := h.newReg("reg-1", "agent-a", h.now())
	reg.URL = "https://hooks.example.com/" + huge
	h.wantTooLarge("CreateRegistration over the limit", h.s.CreateRegistration(h.ctx, reg, 0))
	_, err = h.s.GetRegistration(h.ctx, reg.ID)
	h.wantErr("GetRegistration(refused)", err, store.ErrNotFound)
	ok := h.newReg("reg-1", "agent-a", h.now())
	h.createReg(ok)
	big := *ok
	big.DisabledReason = huge
	h.wantTooLarge("UpdateRegistration over the limit", h.s.UpdateRegistration(h.ctx, &big))
	h.wantReg(ok)

	cs := &store.CallbackState{ID: "cb-1", Agent: "agent-a", Reason: huge, UpdatedAt: h.now()}
	h.wantTooLarge("SaveCallbackState over the limit", h.s.SaveCallbackState(h.ctx, cs))
	h.wantStateIDs()
}

func testFinalNeverClaimed(h *harness) {
	s := h.started("agent-a")
	f := h.started("agent-a")
	r := h.started("agent-a")
	h.finish(s.ID, "w1")
	err := h.s.FinishTask(h.ctx, store.TaskFinish{ID: f.ID, Owner: "w1", Status: store.TaskFailure, Error: "no", ExpiresAt: h.now().Add(48 * time.Hour)})
	if err != nil {
		h.Fatalf("FinishTask(FAILURE): %v", err)
	}
	// A task retried, claimed again and finished by its second holder.
	if err := h.s.RetryTask(h.ctx, r.ID, "w1", h.now(), "again"); err != nil {
		h.Fatalf("RetryTask: %v", err)
	}
	h.wantIDs("claim of the retried task", h.claimIDs("w2", 10), []string{r.ID})
	h.finish(r.ID, "w2")
	for range 3 {
		h.clock.Advance(lease + time.Minute)
		if got := h.claim("w3", 10); len(got) != 0 {
			h.Fatalf("claimed final tasks %v after their leases ran out", ids(got))
		}
	}
	for id, want := range map[string]store.TaskStatus{s.ID: store.TaskSuccess, f.ID: store.TaskFailure, r.ID: store.TaskSuccess} {
		if g := h.get(id); g.Status != want || g.LeaseOwner != "" {
			h.Fatalf("task %s: %s owned by %q, want %s", id, g.Status, g.LeaseOwner, want)
		}
	}
	h.wantTaskCounts(0, 0)
}

func testReclaimKeepsBody(h *harness) {
	t := h.newTask("agent-a", "chat-1")
	t.Request.Body = binary(70_000, 7) // above any engine's inline threshold
	h.create(t)
	check := func(what string, got []*store.Task) {
		h.Helper()
		if len(got) != 1 || got[0].ID != t.ID {
			h.Fatalf("%s: claimed %v, want [%s]", what, ids(got), t.ID)
		}
		wantBytes(h, what+": request body", got[0].Request.Body, t.Request.Body)
	}
	check("first claim", h.claim("w1", 1))
	h.clock.Advance(lease + time.Second)
	check("claim after the lease ran out", h.claim("w2", 1))
	if err := h.s.RetryTask(h.ctx, t.ID, "w2", h.now(), "backend said 503"); err != nil {
		h.Fatalf("RetryTask: %v", err)
	}
	check("claim after a retry", h.claim("w3", 1))
	if err := h.s.ReleaseTask(h.ctx, t.ID, "w3"); err != nil {
		h.Fatalf("ReleaseTask: %v", err)
	}
	check("claim after a release", h.claim("w4", 1))
	err := h.s.FinishTask(h.ctx, store.TaskFinish{ID: t.ID, Owner: "w4", Status: store.TaskSuccess, ExpiresAt: h.now().Add(time.Hour),
		Deliveries: []*store.Delivery{{ID: "d-bad"}}})
	if err == nil {
		h.Fatalf("FinishTask with a delivery without a callback succeeded")
	}
	h.clock.Advance(lease + time.Second)
	check("claim after a refused finish", h.claim("w5", 1))
}

// testErrorsSafe provokes failures with values made of the marker and
// checks that no error text quotes them.
func testErrorsSafe(h *harness) {
	mk := func(n int) string { return string(markerBytes(n)) }
	t := h.started("agent-a")
	var errs []error
	// Ids and keys made of the marker, in calls that fail.
	errs = append(errs,
		h.s.FinishTask(h.ctx, store.TaskFinish{ID: t.ID, Owner: "w1", Status: store.TaskSuccess,
			Deliveries: []*store.Delivery{{ID: mk(40), CallbackID: "cb"}, {ID: mk(40), CallbackID: "cb"}}}),
		h.s.FinishTask(h.ctx, store.TaskFinish{ID: mk(40), Owner: "w1", Status: store.TaskSuccess}),
		h.s.RetryTask(h.ctx, mk(40), mk(30), h.now(), mk(50)),
		h.s.RecordAttempt(h.ctx, store.DeliveryOutcome{ID: mk(40), Owner: "d1", Status: store.DeliveryStatus(mk(20))}),
		h.s.UpdateRegistration(h.ctx, h.newReg(mk(40), "agent-a", h.now())),
	)
	_, err := h.s.GetTask(h.ctx, mk(40))
	errs = append(errs, err)
	// An engine may refuse a task id used before, or not check.
	dup := h.newTask("agent-a", "chat-dup")
	dup.ID = mk(40)
	h.create(dup)
	_, err = h.s.CreateTask(h.ctx, store.NewTask{Task: dup})
	errs = append(errs, err)
	reg := h.newReg(mk(40), "agent-a", h.now())
	h.createReg(reg)
	errs = append(errs, h.s.CreateRegistration(h.ctx, reg, 0))
	// Keys far longer than any real one: an engine may store them or
	// refuse them, but not quote them.
	_, err = h.s.Remember(h.ctx, mk(100_000), time.Hour)
	errs = append(errs, err)
	_, err = h.createIdem(h.newTask("agent-a", "chat-k"), nil, mk(100_000), "fp", h.now().Add(time.Hour))
	errs = append(errs, err)
	for i, err := range errs {
		h.wantSafe(fmt.Sprint("call ", i), err)
		if err != nil && errors.Is(err, store.ErrUnavailable) {
			h.Fatalf("call %d: %v; a refused input is not an unavailable store", i, err)
		}
	}
	for _, i := range []int{0, 1, 2, 3, 4, 5, 7} {
		if errs[i] == nil {
			h.Fatalf("call %d succeeded, want an error", i)
		}
	}
	h.wantHeld(t, "w1")
}
