package pgstore

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/agenthook/agenthook/store"
)

// Group commit for CreateTask.
//
// CreateTask must not return before its task is committed, and a commit
// costs an fsync on the server. Rather than one transaction per request,
// one goroutine takes every request that queued up while the previous
// batch was committing and writes them all in one transaction, sent as one
// pipeline: a round trip and a commit for the batch. There is no waiting
// to fill a batch: under light load a batch is one request, and batches
// grow with the load.

const (
	maxBatch      = 256     // requests per transaction
	maxBatchBytes = 8 << 20 // request bodies per transaction, roughly
	// batchTimeout bounds one batch, so that a database that stopped
	// answering without closing its connections fails the requests
	// instead of holding them.
	batchTimeout = 15 * time.Second
)

// Advisory lock classes (the first key of the two-key form, which never
// meets the one-key migration lock). The second key is a hash of a chat id
// or an order key; a collision only makes two unrelated writes wait for
// each other.
const (
	lockClassChat     int32 = 0x61676863 // "aghc"
	lockClassOrderKey int32 = 0x6167686f // "agho"
	// lockClassHead serializes a chat's inserts with the finish of its
	// head, keyed by hashtext(chat_id) so that FinishTask, which knows
	// only the task's id, can take it in SQL (see headLockSQL).
	lockClassHead int32 = 0x61676868 // "aghh"
)

// headLockSQL takes the head lock of the chat of task $1 (see
// lockClassHead). Without it, a task inserted while its chat's head
// finishes could be missed by both: the insert sees the head unfinished
// and the finish does not see the insert, and the new task would never
// become a head.
// $2 is lockClassHead.
const headLockSQL = `SELECT pg_advisory_xact_lock($2::int4, hashtext(chat_id)) FROM agenthook_tasks WHERE id = $1`

// createReq is one CreateTask waiting for its batch.
type createReq struct {
	ctx  context.Context
	task *store.Task // a copy, normalized; Seq is set once written
	chat *store.Chat
	size int
	done chan error // buffered: the batcher never waits on a caller
	// The task's request (without its body) and meta as JSON, encoded by
	// the caller (encode) so that the one batcher goroutine does not.
	request string
	meta    pgtype.Text
}

// encode sets r's JSON columns.
func (r *createReq) encode() error {
	req, err := json.Marshal(&r.task.Request)
	if err != nil {
		return fmt.Errorf("encoding a task's request: %w", err)
	}
	r.request = string(req)
	if len(r.task.Meta) > 0 {
		meta, err := json.Marshal(r.task.Meta)
		if err != nil {
			return fmt.Errorf("encoding a task's meta: %w", err)
		}
		r.meta = pgtype.Text{String: string(meta), Valid: true}
	}
	return nil
}

type batcher struct {
	s      *Store
	reqs   chan *createReq
	exited chan struct{}

	// Counters, for tests and benchmarks: transactions written, and the
	// requests they carried.
	batches, batched atomic.Int64
}

func newBatcher(s *Store) *batcher {
	return &batcher{s: s, reqs: make(chan *createReq, 4*maxBatch), exited: make(chan struct{})}
}

// submit queues r and waits until it is committed or has failed.
func (b *batcher) submit(r *createReq) error {
	select {
	case b.reqs <- r:
	case <-r.ctx.Done():
		return wrapErr("creating task", r.ctx.Err())
	case <-b.s.ctx.Done():
		return errClosed
	}
	select {
	case err := <-r.done:
		return err
	case <-r.ctx.Done():
		// The task may still be committed; the caller, like any caller
		// that loses its answer, cannot tell.
		return wrapErr("creating task", r.ctx.Err())
	case <-b.s.ctx.Done():
		// Close lets the batcher finish what it took; wait for it.
		<-b.exited
		select {
		case err := <-r.done:
			return err
		default:
			return errClosed
		}
	}
}

// run is the batcher goroutine. It stops at Close, after writing the batch
// under way, and fails the requests still queued.
func (b *batcher) run() {
	defer b.s.bg.Done()
	defer close(b.exited)
	for {
		var first *createReq
		select {
		case first = <-b.reqs:
		case <-b.s.ctx.Done():
			for {
				select {
				case r := <-b.reqs:
					r.done <- errClosed
				default:
					return
				}
			}
		}
		batch, size := []*createReq{first}, first.size
	collect:
		for len(batch) < maxBatch && size < maxBatchBytes {
			select {
			case r := <-b.reqs:
				batch = append(batch, r)
				size += r.size
			default:
				break collect
			}
		}
		b.write(batch)
	}
}

// write commits one batch and answers its requests.
func (b *batcher) write(batch []*createReq) {
	live := make([]*createReq, 0, len(batch))
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- wrapErr("creating task", err)
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	b.batches.Add(1)
	b.batched.Add(int64(len(live)))
	// Not the store's context: Close lets the batch under way finish.
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	err := b.s.insertTasks(ctx, b.s.pool, live, b.s.clock())
	if err != nil && len(live) > 1 && !unavailable(err) {
		// One bad request (a duplicate id) fails the whole transaction;
		// write them one by one so that it fails alone.
		for _, r := range live {
			r.done <- b.s.insertTasks(ctx, b.s.pool, []*createReq{r}, b.s.clock())
		}
		b.s.changed(true, false)
		return
	}
	for _, r := range live {
		r.done <- err
	}
	if err == nil {
		b.s.changed(true, false)
	}
}

// batchSender is a pool or a transaction.
type batchSender interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// insertTasks writes new tasks and their chats in one transaction: on the
// pool, the pipeline below is one implicit transaction (one Sync),
// committed when the results arrive; in a transaction, it is part of it.
// It sets each task's Seq. The caller reports the change (Store.changed)
// once committed.
func (s *Store) insertTasks(ctx context.Context, q batchSender, reqs []*createReq, now time.Time) error {
	n := len(reqs)
	ids, agents, chatIDs, endpoints := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	principals, bodies := make([][]byte, n), make([][]byte, n)
	requests, errs := make([]string, n), make([]string, n)
	metas := make([]pgtype.Text, n)
	runAfter := make([]pgtype.Timestamptz, n)
	sensitive := make([]bool, n)
	// first marks a chat's first task in this batch: only it can be its
	// chat's head (see 0006_task_heads.sql).
	first := make([]bool, n)
	seenChat := make(map[string]bool, n)
	var chats []*store.Chat
	chatAt := map[string]int{}
	var locks []int32
	for i, r := range reqs {
		t := r.task
		t.CreatedAt, t.UpdatedAt = now, now
		if t.RunAfter.IsZero() {
			t.RunAfter = now
		}
		ids[i], agents[i], chatIDs[i], endpoints[i] = t.ID, t.Agent, t.ChatID, t.Endpoint
		principals[i], bodies[i] = append([]byte{}, t.Principal...), t.Request.Body
		requests[i], metas[i], errs[i] = r.request, r.meta, cleanText(t.Error)
		runAfter[i], sensitive[i] = ts(t.RunAfter), t.Sensitive
		first[i], seenChat[t.ChatID] = !seenChat[t.ChatID], true
		locks = append(locks, lockKey(t.ChatID))
		if c := r.chat; c != nil {
			// Two requests of one batch may carry the same chat: the later
			// one wins, as it would one transaction later.
			if j, ok := chatAt[c.ID]; ok {
				chats[j] = c
			} else {
				chatAt[c.ID] = len(chats)
				chats = append(chats, c)
			}
		}
	}
	b := &pgx.Batch{}
	queueLocks(b, lockClassChat, locks)
	// The head locks, in one order (hashtext's) for every inserter; the
	// INSERT after them sees any finish that committed before.
	b.Queue(`SELECT count(pg_advisory_xact_lock($1::int4, k)) FROM
		(SELECT DISTINCT hashtext(c) AS k FROM unnest($2::text[]) AS c ORDER BY 1) AS ks`, lockClassHead, arrayOf(chatIDs))
	b.Queue(insertTasksSQL, now, arrayOf(ids), arrayOf(agents), arrayOf(chatIDs), arrayOf(principals),
		arrayOf(endpoints), arrayOf(requests), arrayOf(bodies), arrayOf(errs), arrayOf(runAfter),
		arrayOf(sensitive), arrayOf(metas), arrayOf(first))
	if len(chats) > 0 {
		b.Queue(upsertChatSQL, chatArgs(chats)...)
	}

	br := q.SendBatch(ctx, b)
	err := func() error {
		if len(locks) > 0 {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		if _, err := br.Exec(); err != nil { // the head locks
			return err
		}
		rows, err := br.Query()
		if err != nil {
			return err
		}
		seqs := make(map[string]int64, n)
		var id string
		var seq int64
		if _, err := pgx.ForEachRow(rows, []any{&id, &seq}, func() error { seqs[id] = seq; return nil }); err != nil {
			return err
		}
		for _, r := range reqs {
			r.task.Seq = seqs[r.task.ID]
		}
		return nil
	}()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if isUniqueViolation(err) {
		return &store.Error{Op: "creating task", Kind: store.ErrInvalid, Detail: "the task id is already used", Err: err}
	}
	return wrapErr("creating task", err)
}

// insertTasksSQL inserts a batch of tasks. A task is its chat's head if
// no task of its chat is unfinished (and it is the first of its chat in
// the batch): one probe of agenthook_tasks_chat per task, as long as the
// planner knows how big the table is (plannerstats.go).
const insertTasksSQL = `
	INSERT INTO agenthook_tasks (id, agent, chat_id, principal, endpoint, seq, status, request, body,
		error, attempts, run_after, due_at, created_at, updated_at, sensitive, meta, head)
	SELECT u.id, u.agent, u.chat_id, u.principal, u.endpoint, nextval('agenthook_seq'), 'PENDING',
		u.request::json, u.body, u.error, 0, u.run_after, u.run_after, $1, $1, u.sensitive, u.meta::json,
		u.first AND NOT EXISTS (SELECT 1 FROM agenthook_tasks p
			WHERE p.chat_id = u.chat_id AND p.status IN ('PENDING', 'STARTED'))
	FROM unnest($2::text[], $3::text[], $4::text[], $5::bytea[], $6::text[], $7::text[], $8::bytea[],
		$9::text[], $10::timestamptz[], $11::bool[], $12::text[], $13::bool[])
		WITH ORDINALITY AS u(id, agent, chat_id, principal, endpoint, request, body, error, run_after, sensitive, meta, first, ord)
	ORDER BY u.ord
	RETURNING id, seq`

// queueLocks queues taking the advisory locks of keys (sorted and made
// distinct first, so that transactions taking several never deadlock),
// held until the transaction ends.
func queueLocks(b *pgx.Batch, class int32, keys []int32) {
	if len(keys) == 0 {
		return
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	// unnest yields the keys in array order, and the aggregate takes the
	// locks row by row in that order.
	b.Queue(`SELECT count(pg_advisory_xact_lock($1, k)) FROM unnest($2::int4[]) AS k`, class, keys)
}

// lockKey hashes a chat id or an order key to an advisory lock key.
func lockKey(s string) int32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return int32(h.Sum32())
}
