package storetest

import (
	"time"

	"github.com/agenthook/agenthook/store"
)

var finishTests = []test{
	{"Success", testFinishSuccess},
	{"Failure", testFinishFailure},
	{"EmptyResultBody", testFinishEmptyBody},
	{"NotFinal", testFinishNotFinal},
	{"Twice", testFinishTwice},
	{"ConversationID", testFinishConversation},
	{"KeepsConversationID", testFinishKeepsConversation},
	{"Deliveries", testFinishDeliveries},
	{"BadDeliveryIsAtomic", testFinishAtomic},
	{"Expires", testFinishExpires},
	{"WakesNextInChat", testFinishWake},
}

// started creates a task in its own chat and claims it for w1.
func (h *harness) started(agent string) *store.Task {
	h.Helper()
	t := h.add(agent, h.id("chat"))
	got := h.claim("w1", 1, agent)
	if len(got) != 1 || got[0].ID != t.ID {
		h.Fatalf("claimed %v, want [%s]", ids(got), t.ID)
	}
	return got[0]
}

func testFinishSuccess(h *harness) {
	t := h.started("agent-a")
	body := binary(3000, 4)
	exp := h.now().Add(time.Hour)
	err := h.s.FinishTask(h.ctx, store.TaskFinish{
		ID: t.ID, Owner: "w1", Status: store.TaskSuccess,
		Result:    &store.Result{StatusCode: 201, ContentType: "application/json; charset=utf-8", Body: body},
		ExpiresAt: exp,
	})
	if err != nil {
		h.Fatalf("FinishTask: %v", err)
	}
	g := h.get(t.ID)
	if g.Status != store.TaskSuccess || g.LeaseOwner != "" || g.Attempts != 1 || g.Error != "" {
		h.Fatalf("finished task: %s, owner %q, attempts %d, error %q", g.Status, g.LeaseOwner, g.Attempts, g.Error)
	}
	if g.Result == nil || g.Result.StatusCode != 201 || g.Result.ContentType != "application/json; charset=utf-8" {
		h.Fatalf("finished task result %+v", g.Result)
	}
	wantBytes(h, "result body", g.Result.Body, body)
	wantTime(h, "ExpiresAt", g.ExpiresAt, exp)
	if g.FinishedAt.IsZero() || g.ChatID != t.ChatID || g.Agent != t.Agent {
		h.Fatalf("finished task %+v: want FinishedAt and the task's fields", g)
	}
	h.wantTaskCounts(0, 0)
	if got := h.claim("w1", 10); len(got) != 0 {
		h.Fatalf("claimed %v after finish", ids(got))
	}
}

func testFinishFailure(h *harness) {
	t := h.started("agent-a")
	err := h.s.FinishTask(h.ctx, store.TaskFinish{
		ID: t.ID, Owner: "w1", Status: store.TaskFailure, Error: "backend answered 502",
		ExpiresAt: h.now().Add(time.Hour),
	})
	if err != nil {
		h.Fatalf("FinishTask: %v", err)
	}
	g := h.get(t.ID)
	if g.Status != store.TaskFailure || g.Error != "backend answered 502" || g.Result != nil {
		h.Fatalf("failed task: %s, error %q, result %+v", g.Status, g.Error, g.Result)
	}
}

func testFinishEmptyBody(h *harness) {
	t := h.started("agent-a")
	err := h.s.FinishTask(h.ctx, store.TaskFinish{
		ID: t.ID, Owner: "w1", Status: store.TaskSuccess,
		Result: &store.Result{StatusCode: 204}, ExpiresAt: h.now().Add(time.Hour),
	})
	if err != nil {
		h.Fatalf("FinishTask: %v", err)
	}
	g := h.get(t.ID)
	if g.Result == nil || g.Result.StatusCode != 204 || len(g.Result.Body) != 0 {
		h.Fatalf("result %+v, want 204 with no body", g.Result)
	}
}

func testFinishNotFinal(h *harness) {
	t := h.started("agent-a")
	for _, st := range []store.TaskStatus{store.TaskPending, store.TaskStarted, ""} {
		err := h.s.FinishTask(h.ctx, store.TaskFinish{ID: t.ID, Owner: "w1", Status: st, ExpiresAt: h.now().Add(time.Hour)})
		if err == nil {
			h.Fatalf("FinishTask with status %q succeeded", st)
		}
	}
	if g := h.get(t.ID); g.Status != store.TaskStarted || g.LeaseOwner != "w1" {
		h.Fatalf("task after refused finishes: %s owned by %q", g.Status, g.LeaseOwner)
	}
}

func testFinishTwice(h *harness) {
	t := h.started("agent-a")
	h.finish(t.ID, "w1")
	err := h.s.FinishTask(h.ctx, store.TaskFinish{ID: t.ID, Owner: "w1", Status: store.TaskFailure, ExpiresAt: h.now().Add(time.Hour)})
	h.wantErr("second FinishTask", err, store.ErrLeaseLost)
	err = h.s.RetryTask(h.ctx, t.ID, "w1", h.now(), "x")
	h.wantErr("RetryTask of a finished task", err, store.ErrLeaseLost)
	if g := h.get(t.ID); g.Status != store.TaskSuccess {
		h.Fatalf("task %s after a second finish, want SUCCESS kept", g.Status)
	}
}

func testFinishConversation(h *harness) {
	chat := h.newChat("agent-a")
	chat.ExpiresAt = h.now().Add(time.Hour)
	t := h.newTask("agent-a", chat.ID)
	if _, err := h.s.CreateTask(h.ctx, store.NewTask{Task: t, Chat: chat}); err != nil {
		h.Fatalf("CreateTask: %v", err)
	}
	h.claim("w1", 1)
	chatExp := h.now().Add(3 * time.Hour)
	err := h.s.FinishTask(h.ctx, store.TaskFinish{
		ID: t.ID, Owner: "w1", Status: store.TaskSuccess,
		ConversationID: "conv-42", ChatExpiresAt: chatExp,
		ExpiresAt: h.now().Add(time.Hour),
	})
	if err != nil {
		h.Fatalf("FinishTask: %v", err)
	}
	h.clock.Advance(2 * time.Hour) // past the chat's first expiry
	c := mustChat(h, chat.ID)
	if c.ConversationID != "conv-42" || c.Agent != chat.Agent || c.Principal != chat.Principal {
		h.Fatalf("chat after finish: %+v, want conv-42 and the rest kept", c)
	}
	wantTime(h, "chat ExpiresAt", c.ExpiresAt, chatExp)
}

func testFinishKeepsConversation(h *harness) {
	chat := h.newChat("agent-a")
	chat.ConversationID = "conv-1"
	h.saveChat(chat)
	h.add("agent-a", chat.ID)
	got := h.claim("w1", 1)
	h.finish(got[0].ID, "w1")
	h.wantChat(chat)
}

// newDelivery builds an unsaved delivery for FinishTask.
func (h *harness) newDelivery(agent, callback, orderKey string, payload []byte) *store.Delivery {
	return &store.Delivery{
		ID:         h.id("dlv"),
		Agent:      agent,
		CallbackID: callback,
		OrderKey:   orderKey,
		EventType:  "task.succeeded",
		Payload:    payload,
	}
}

func testFinishDeliveries(h *harness) {
	t := h.started("agent-a")
	d1 := h.newDelivery("agent-a", "cb-1", "", binary(5000, 5))
	d2 := h.newDelivery("agent-a", "cb-2", "", []byte(`{"type":"task.succeeded"}`))
	d1.TaskID, d1.ChatID = t.ID, t.ChatID
	d2.TaskID, d2.ChatID = t.ID, t.ChatID
	want := map[string]store.Delivery{d1.ID: *d1, d2.ID: *d2}
	drain(h.s.DeliveryWake())
	h.finish(t.ID, "w1", d1, d2)
	if !woken(h.s.DeliveryWake()) {
		h.Errorf("DeliveryWake did not receive after FinishTask with deliveries")
	}
	h.wantDeliveryCounts(2, 0)
	got := h.claimDeliveries("d1", 10)
	h.wantIDs("claimed deliveries", ids(got), []string{d1.ID, d2.ID})
	for _, d := range got {
		w := want[d.ID]
		if d.TaskID != t.ID || d.ChatID != t.ChatID || d.Agent != "agent-a" || d.CallbackID != w.CallbackID ||
			d.EventType != "task.succeeded" || d.Status != store.DeliveryPending {
			h.Fatalf("claimed delivery %+v, want the fields of %+v, pending", d, w)
		}
		wantBytes(h, "payload of "+d.ID, d.Payload, w.Payload)
	}
}

func testFinishAtomic(h *harness) {
	t := h.started("agent-a")
	good := h.newDelivery("agent-a", "cb-1", "", []byte("x"))
	bad := h.newDelivery("agent-a", "", "", []byte("y")) // no callback id
	err := h.s.FinishTask(h.ctx, store.TaskFinish{
		ID: t.ID, Owner: "w1", Status: store.TaskSuccess, ExpiresAt: h.now().Add(time.Hour),
		Deliveries: []*store.Delivery{good, bad},
	})
	if err == nil {
		h.Fatalf("FinishTask with a delivery without a callback succeeded")
	}
	if g := h.get(t.ID); g.Status != store.TaskStarted || g.LeaseOwner != "w1" {
		h.Fatalf("task after a refused finish: %s owned by %q, want STARTED by w1", g.Status, g.LeaseOwner)
	}
	if _, err := h.s.GetDelivery(h.ctx, good.ID); err == nil {
		h.Fatalf("a delivery of a refused finish was stored")
	}
	h.wantDeliveryCounts(0, 0)
	h.finish(t.ID, "w1")
}

func testFinishExpires(h *harness) {
	t := h.started("agent-a")
	err := h.s.FinishTask(h.ctx, store.TaskFinish{
		ID: t.ID, Owner: "w1", Status: store.TaskSuccess,
		Result: &store.Result{StatusCode: 200, Body: []byte("done")}, ExpiresAt: h.now().Add(time.Hour),
	})
	if err != nil {
		h.Fatalf("FinishTask: %v", err)
	}
	h.clock.Advance(59 * time.Minute)
	h.get(t.ID)
	h.clock.Advance(2 * time.Minute)
	_, err = h.s.GetTask(h.ctx, t.ID)
	h.wantErr("GetTask(expired)", err, store.ErrNotFound)
}

func testFinishWake(h *harness) {
	t1 := h.add("agent-a", "chat-1")
	h.add("agent-a", "chat-1")
	h.claim("w1", 10)
	drain(h.s.TaskWake())
	h.finish(t1.ID, "w1")
	if !woken(h.s.TaskWake()) {
		h.Fatalf("TaskWake did not receive when the chat's next task became claimable")
	}
}
