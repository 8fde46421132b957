package storetest

import (
	"net/http"
	"reflect"
	"time"

	"github.com/agenthook/agenthook/store"
)

var createTests = []test{
	{"Roundtrip", testCreateRoundtrip},
	{"Bodies", testCreateBodies},
	{"SeqGrowsInChat", testCreateSeq},
	{"SavesChat", testCreateSavesChat},
	{"GetUnknown", testGetTaskUnknown},
	{"IdempotentReplay", testIdemReplay},
	{"IdempotentReplayAfterFinish", testIdemReplayFinished},
	{"IdempotencyMismatch", testIdemMismatch},
	{"IdempotencyExpires", testIdemExpires},
	{"IdempotencyKeysIndependent", testIdemKeys},
	{"BadInput", testCreateBadInput},
	{"Wake", testCreateWake},
}

func testCreateRoundtrip(h *harness) {
	chat := h.newChat("agent-a")
	t := &store.Task{
		ID:        "task-roundtrip",
		Agent:     "agent-a",
		ChatID:    chat.ID,
		Principal: "user:alice",
		Endpoint:  "docsgpt",
		Request: store.Request{
			Method:   http.MethodPut,
			Path:     "/api/webhooks/agents/x y/ü",
			RawQuery: "a=1&b=%20&a=2&empty=",
			Header: http.Header{
				"Content-Type":    {"application/octet-stream"},
				"X-Multi":         {"one", "two", ""},
				"X-Continue-Chat": {chat.ID},
			},
			Body: binary(300, 1),
		},
		Sensitive: true,
		Meta:      map[string]string{"userId": "u-1", "sessionId": "s-1"},
	}
	in := *t
	c, err := h.s.CreateTask(h.ctx, store.NewTask{Task: t, Chat: chat})
	if err != nil {
		h.Fatalf("CreateTask: %v", err)
	}
	if c.Replayed {
		h.Fatalf("CreateTask: Replayed on a first call")
	}
	if c.Task == nil || c.Task.ID != in.ID || c.Task.Status != store.TaskPending || c.Task.Seq == 0 {
		h.Fatalf("CreateTask returned %+v, want %s PENDING with a seq", c.Task, in.ID)
	}
	got := h.get(in.ID)
	if got.ID != in.ID || got.Agent != in.Agent || got.ChatID != in.ChatID || got.Principal != in.Principal ||
		got.Endpoint != in.Endpoint || got.Sensitive != in.Sensitive {
		h.Fatalf("GetTask = %+v, want the fields of %+v", got, in)
	}
	if got.Status != store.TaskPending || got.Attempts != 0 || got.LeaseOwner != "" || got.Result != nil {
		h.Fatalf("GetTask: status %s, attempts %d, owner %q, result %v; want a fresh PENDING task", got.Status, got.Attempts, got.LeaseOwner, got.Result)
	}
	if got.Seq != c.Task.Seq {
		h.Fatalf("GetTask seq %d, CreateTask returned %d", got.Seq, c.Task.Seq)
	}
	if got.Request.Method != in.Request.Method || got.Request.Path != in.Request.Path || got.Request.RawQuery != in.Request.RawQuery {
		h.Fatalf("GetTask request %s %s ?%s, want %s %s ?%s", got.Request.Method, got.Request.Path, got.Request.RawQuery,
			in.Request.Method, in.Request.Path, in.Request.RawQuery)
	}
	if !reflect.DeepEqual(got.Request.Header, in.Request.Header) {
		h.Fatalf("GetTask header %v, want %v", got.Request.Header, in.Request.Header)
	}
	if !reflect.DeepEqual(got.Meta, in.Meta) {
		h.Fatalf("GetTask meta %v, want %v", got.Meta, in.Meta)
	}
	wantBytes(h, "GetTask request body", got.Request.Body, in.Request.Body)
	if got.CreatedAt.IsZero() || got.RunAfter.After(h.now()) {
		h.Fatalf("GetTask: CreatedAt %v, RunAfter %v; want set, and due now", got.CreatedAt, got.RunAfter)
	}
}

func testCreateBodies(h *harness) {
	bodies := map[string][]byte{
		"nil":    nil,
		"empty":  {},
		"binary": binary(1000, 2),
		"large":  binary(256<<10, 3),
		"nul":    {0, 0, 0},
	}
	for name, body := range bodies {
		t := h.newTask("agent-a", "chat-"+name)
		t.ID = "task-" + name
		t.Request.Body = body
		h.create(t)
	}
	for name, body := range bodies {
		wantBytes(h, "GetTask body "+name, h.get("task-"+name).Request.Body, body)
	}
	// Claimed tasks carry their bodies too.
	claimed := h.claim("w1", 10)
	if len(claimed) != len(bodies) {
		h.Fatalf("claimed %d tasks, want %d", len(claimed), len(bodies))
	}
	for _, t := range claimed {
		wantBytes(h, "claimed body "+t.ID, t.Request.Body, bodies[t.ID[len("task-"):]])
	}
}

func testCreateSeq(h *harness) {
	var last int64
	for i := range 10 {
		t := h.add("agent-a", "chat-1")
		if i > 0 && t.Seq <= last {
			h.Fatalf("task %d: seq %d after %d, want it to grow", i, t.Seq, last)
		}
		last = t.Seq
		h.add("agent-a", h.id("other")) // other chats in between
	}
}

func testCreateSavesChat(h *harness) {
	chat := h.newChat("agent-a")
	chat.ConversationID = "conv-0"
	t := h.newTask("agent-a", chat.ID)
	if _, err := h.s.CreateTask(h.ctx, store.NewTask{Task: t, Chat: chat}); err != nil {
		h.Fatalf("CreateTask: %v", err)
	}
	h.wantChat(chat)

	// A second task replaces the chat.
	chat2 := *chat
	chat2.ConversationID = "conv-1"
	chat2.ExpiresAt = h.now().Add(72 * time.Hour)
	if _, err := h.s.CreateTask(h.ctx, store.NewTask{Task: h.newTask("agent-a", chat.ID), Chat: &chat2}); err != nil {
		h.Fatalf("CreateTask: %v", err)
	}
	h.wantChat(&chat2)
}

func testGetTaskUnknown(h *harness) {
	_, err := h.s.GetTask(h.ctx, "no-such-task")
	h.wantErr("GetTask(unknown)", err, store.ErrNotFound)
}

func (h *harness) createIdem(t *store.Task, chat *store.Chat, key, fp string, exp time.Time) (store.Created, error) {
	return h.s.CreateTask(h.ctx, store.NewTask{
		Task: t, Chat: chat,
		Idempotency: &store.Idempotency{Key: key, Fingerprint: fp, ExpiresAt: exp},
	})
}

func testIdemReplay(h *harness) {
	exp := h.now().Add(24 * time.Hour)
	chat1 := h.newChat("agent-a")
	first, err := h.createIdem(h.newTask("agent-a", chat1.ID), chat1, "key-1", "fp-1", exp)
	if err != nil || first.Replayed {
		h.Fatalf("first CreateTask = %+v, %v; want a new task", first, err)
	}
	h.wantTaskCounts(1, 0)

	chat2 := h.newChat("agent-a")
	second := h.newTask("agent-a", chat2.ID)
	again, err := h.createIdem(second, chat2, "key-1", "fp-1", exp)
	if err != nil {
		h.Fatalf("second CreateTask: %v", err)
	}
	if !again.Replayed || again.Task == nil || again.Task.ID != first.Task.ID || again.Task.ChatID != chat1.ID {
		h.Fatalf("second CreateTask = %+v (task %+v), want a replay of %s in %s", again, again.Task, first.Task.ID, chat1.ID)
	}
	_, err = h.s.GetTask(h.ctx, second.ID)
	h.wantErr("GetTask(replayed id)", err, store.ErrNotFound)
	h.wantTaskCounts(1, 0)
	if got := h.claimIDs("w1", 10); len(got) != 1 || got[0] != first.Task.ID {
		h.Fatalf("claimed %v, want only %s", got, first.Task.ID)
	}
}

func testIdemReplayFinished(h *harness) {
	exp := h.now().Add(24 * time.Hour)
	t := h.newTask("agent-a", "chat-1")
	if _, err := h.createIdem(t, nil, "key-1", "fp-1", exp); err != nil {
		h.Fatalf("CreateTask: %v", err)
	}
	h.claim("w1", 1)
	h.finish(t.ID, "w1")
	again, err := h.createIdem(h.newTask("agent-a", "chat-2"), nil, "key-1", "fp-1", exp)
	if err != nil || !again.Replayed || again.Task.ID != t.ID || again.Task.ChatID != "chat-1" {
		h.Fatalf("CreateTask after finish = %+v, %v; want a replay of %s", again, err, t.ID)
	}
	h.wantTaskCounts(0, 0)
}

func testIdemMismatch(h *harness) {
	exp := h.now().Add(24 * time.Hour)
	if _, err := h.createIdem(h.newTask("agent-a", "chat-1"), nil, "key-1", "fp-1", exp); err != nil {
		h.Fatalf("CreateTask: %v", err)
	}
	t := h.newTask("agent-a", "chat-2")
	_, err := h.createIdem(t, h.newChat("agent-a"), "key-1", "fp-2", exp)
	h.wantErr("CreateTask with another fingerprint", err, store.ErrIdempotencyMismatch)
	_, err = h.s.GetTask(h.ctx, t.ID)
	h.wantErr("GetTask(refused task)", err, store.ErrNotFound)
	h.wantTaskCounts(1, 0)
}

func testIdemExpires(h *harness) {
	first, err := h.createIdem(h.newTask("agent-a", "chat-1"), nil, "key-1", "fp-1", h.now().Add(time.Hour))
	if err != nil {
		h.Fatalf("CreateTask: %v", err)
	}
	h.clock.Advance(61 * time.Minute)
	second, err := h.createIdem(h.newTask("agent-a", "chat-2"), nil, "key-1", "fp-2", h.now().Add(time.Hour))
	if err != nil || second.Replayed || second.Task.ID == first.Task.ID {
		h.Fatalf("CreateTask after the key expired = %+v, %v; want a new task", second, err)
	}
	// The key now remembers the second task.
	third, err := h.createIdem(h.newTask("agent-a", "chat-3"), nil, "key-1", "fp-2", h.now().Add(time.Hour))
	if err != nil || !third.Replayed || third.Task.ID != second.Task.ID {
		h.Fatalf("CreateTask with the renewed key = %+v, %v; want a replay of %s", third, err, second.Task.ID)
	}
	h.wantTaskCounts(2, 0)
}

func testIdemKeys(h *harness) {
	exp := h.now().Add(time.Hour)
	a, err := h.createIdem(h.newTask("agent-a", "chat-1"), nil, "key-a", "fp", exp)
	if err != nil {
		h.Fatalf("CreateTask: %v", err)
	}
	b, err := h.createIdem(h.newTask("agent-a", "chat-1"), nil, "key-b", "fp", exp)
	if err != nil || b.Replayed || b.Task.ID == a.Task.ID {
		h.Fatalf("CreateTask with another key = %+v, %v; want a new task", b, err)
	}
	h.wantTaskCounts(2, 0)
}

func testCreateBadInput(h *harness) {
	cases := map[string]*store.Task{
		"nil task":   nil,
		"no id":      {Agent: "agent-a", ChatID: "chat-1"},
		"no agent":   {ID: "task-1", ChatID: "chat-1"},
		"no chat id": {ID: "task-2", Agent: "agent-a"},
	}
	for name, t := range cases {
		if _, err := h.s.CreateTask(h.ctx, store.NewTask{Task: t}); err == nil {
			h.Errorf("CreateTask(%s) succeeded", name)
		}
	}
	h.wantTaskCounts(0, 0)
	if got := h.claim("w1", 10); len(got) != 0 {
		h.Fatalf("claimed %v after refused creates", ids(got))
	}
}

func testCreateWake(h *harness) {
	drain(h.s.TaskWake())
	h.add("agent-a", "chat-1")
	if !woken(h.s.TaskWake()) {
		h.Fatalf("TaskWake did not receive after CreateTask")
	}
}
