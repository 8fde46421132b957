package badgerstore

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"
	"unsafe"
)

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func schedClaim(t *testing.T, s *sched, now time.Time, limit int, owner string, skip ...string) ([]string, time.Time) {
	t.Helper()
	var f func(string) bool
	if skip != nil {
		f = func(p string) bool { return slices.Contains(skip, p) }
	}
	ids, next := s.claim(now, limit, time.Minute, owner, f)
	checkSched(t, s)
	return ids, next
}

func wantClaim(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s: claimed %v, want %v", what, got, want)
	}
}

// checkSched verifies the scheduler's internal invariants.
func checkSched(t *testing.T, s *sched) {
	t.Helper()
	nItems, nLeased := 0, 0
	nGroups := map[*partition]int{}
	for key, g := range s.groups {
		if len(g.items) == 0 {
			t.Fatalf("group %q is empty but kept", key)
		}
		if g.key != key {
			t.Fatalf("group %q filed under %q", g.key, key)
		}
		if s.parts[g.part.key] != g.part {
			t.Fatalf("group %q is in partition %q, which is not filed", key, g.part.key)
		}
		if g.part.key != g.items[0].part {
			t.Fatalf("group %q is in partition %q, its head %s in %q", key, g.part.key, g.items[0].id, g.items[0].part)
		}
		nGroups[g.part]++
		for i, it := range g.items {
			nItems++
			if s.items[it.id] != it || it.group != g {
				t.Fatalf("item %s of group %q is not indexed", it.id, key)
			}
			if i > 0 && it.seq <= g.items[i-1].seq {
				t.Fatalf("group %q out of seq order at %d", key, i)
			}
			if it.leaseIdx >= 0 {
				nLeased++
				if i > 0 {
					t.Fatalf("item %s is leased but not the head of %q", it.id, key)
				}
			}
		}
		head := g.items[0]
		inHeap := g.heapIdx >= 0
		if inHeap == (head.leaseIdx >= 0) {
			t.Fatalf("group %q: in ready heap %v, head leased %v", key, inHeap, head.leaseIdx >= 0)
		}
		if inHeap && g.part.groups[g.heapIdx] != g {
			t.Fatalf("group %q: wrong heap index", key)
		}
	}
	if nItems != len(s.items) {
		t.Fatalf("%d items in groups, %d indexed", nItems, len(s.items))
	}
	if nLeased != s.nLeased || nLeased != len(s.leased) {
		t.Fatalf("%d leased items, nLeased %d, lease heap %d", nLeased, s.nLeased, len(s.leased))
	}
	for key, p := range s.parts {
		if p.nGroups != nGroups[p] || p.nGroups == 0 {
			t.Fatalf("partition %q counts %d groups, has %d", key, p.nGroups, nGroups[p])
		}
		if (p.heapIdx >= 0) != (len(p.groups) > 0) {
			t.Fatalf("partition %q: in ready heap %v with %d ready groups", key, p.heapIdx >= 0, len(p.groups))
		}
	}
	for i, p := range s.ready {
		if p.heapIdx != i || s.parts[p.key] != p {
			t.Fatalf("ready heap entry %d (%q) is stale", i, p.key)
		}
	}
}

func TestSchedGroupOrder(t *testing.T) {
	s := newSched()
	s.add("a1", "A", "p", 1, t0)
	s.add("a2", "A", "p", 2, t0)
	s.add("b1", "B", "p", 3, t0)
	s.add("a3", "A", "p", 4, t0)
	s.add("x1", "", "p", 5, t0) // a group of its own
	s.add("x2", "", "p", 6, t0)
	checkSched(t, s)
	ids, _ := schedClaim(t, s, t0, 10, "w")
	wantClaim(t, "first claim", ids, "a1", "b1", "x1", "x2")
	ids, _ = schedClaim(t, s, t0, 10, "w")
	wantClaim(t, "second claim", ids)
	s.remove("b1")
	ids, _ = schedClaim(t, s, t0, 10, "w")
	wantClaim(t, "claim after b1", ids)
	s.remove("a1")
	ids, _ = schedClaim(t, s, t0, 10, "w")
	wantClaim(t, "claim after a1", ids, "a2")
	s.remove("a2")
	ids, _ = schedClaim(t, s, t0, 10, "w")
	wantClaim(t, "claim after a2", ids, "a3")
}

func TestSchedClaimOrderAndLimit(t *testing.T) {
	s := newSched()
	s.add("late", "", "p", 1, t0.Add(time.Second))
	s.add("early", "", "q", 2, t0.Add(-time.Second))
	s.add("now2", "", "p", 4, t0)
	s.add("now1", "", "q", 3, t0)
	ids, next := schedClaim(t, s, t0.Add(time.Second), 2, "w")
	wantClaim(t, "limited claim", ids, "early", "now1")
	if !next.Equal(t0.Add(time.Second)) {
		t.Fatalf("next = %v, want now: more is due", next)
	}
	ids, _ = schedClaim(t, s, t0.Add(time.Second), 10, "w")
	wantClaim(t, "rest", ids, "now2", "late")
}

func TestSchedPartitionsSkipped(t *testing.T) {
	s := newSched()
	s.add("p1", "", "p", 1, t0)
	s.add("q1", "", "q", 2, t0)
	s.add("r1", "", "r", 3, t0)
	ids, _ := schedClaim(t, s, t0, 10, "w", "p", "r")
	wantClaim(t, "claim skipping p and r", ids, "q1")
	ids, next := schedClaim(t, s, t0, 10, "w", "p", "q", "r")
	wantClaim(t, "claim skipping all", ids)
	// p1 and r1 are due but skipped; q1's lease ends in a minute.
	if want := t0.Add(time.Minute); !next.Equal(want) {
		t.Fatalf("next = %v, want %v", next, want)
	}
	ids, _ = schedClaim(t, s, t0, 10, "w", "q")
	wantClaim(t, "claim skipping q", ids, "p1", "r1")
}

func TestSchedNext(t *testing.T) {
	s := newSched()
	_, next := schedClaim(t, s, t0, 10, "w")
	if !next.IsZero() {
		t.Fatalf("next of an empty scheduler = %v", next)
	}
	s.add("p1", "", "p", 1, t0.Add(time.Minute))
	s.add("q1", "", "q", 2, t0.Add(5*time.Minute))
	s.add("r1", "", "r", 3, t0.Add(3*time.Minute))
	for _, c := range []struct {
		skip []string
		want time.Time
	}{
		{nil, t0.Add(time.Minute)},
		{[]string{"q"}, t0.Add(time.Minute)},
		{[]string{"p"}, t0.Add(3 * time.Minute)}, // the minimum is skipped
		{[]string{"p", "r"}, t0.Add(5 * time.Minute)},
		{[]string{"p", "q", "r"}, time.Time{}},
	} {
		ids, next := schedClaim(t, s, t0, 10, "w", c.skip...)
		wantClaim(t, fmt.Sprint("claim skipping ", c.skip), ids)
		if !next.Equal(c.want) {
			t.Fatalf("next skipping %v = %v, want %v", c.skip, next, c.want)
		}
	}
	// A lease ending is a time to come back too.
	ids, next := schedClaim(t, s, t0.Add(time.Minute), 10, "w")
	wantClaim(t, "claim of p1", ids, "p1")
	if want := t0.Add(2 * time.Minute); !next.Equal(want) {
		t.Fatalf("next with a lease until %v = %v", want, next)
	}
}

func TestSchedLeaseExpiry(t *testing.T) {
	s := newSched()
	s.add("a1", "A", "p", 1, t0)
	s.add("a2", "A", "p", 2, t0)
	ids, _ := schedClaim(t, s, t0, 10, "w1")
	wantClaim(t, "first claim", ids, "a1")
	if !s.heldBy("a1", "w1") || s.heldBy("a1", "w2") {
		t.Fatalf("heldBy after claim is wrong")
	}
	if until, ok := s.leasedUntil("a1"); !ok || !until.Equal(t0.Add(time.Minute)) {
		t.Fatalf("leasedUntil = %v, %v", until, ok)
	}
	ids, next := schedClaim(t, s, t0.Add(59*time.Second), 10, "w2")
	wantClaim(t, "claim during the lease", ids)
	if !next.Equal(t0.Add(time.Minute)) {
		t.Fatalf("next = %v, want the lease's end", next)
	}
	// The lease ran out but nobody claimed: the old owner still holds it.
	if !s.heldBy("a1", "w1") {
		t.Fatalf("heldBy(w1) false before anyone else claimed")
	}
	ids, _ = schedClaim(t, s, t0.Add(time.Minute), 10, "w2")
	wantClaim(t, "claim at the lease's end", ids, "a1")
	if s.heldBy("a1", "w1") || !s.heldBy("a1", "w2") {
		t.Fatalf("heldBy after a second claim is wrong")
	}
	if total, leased := s.len(); total != 2 || leased != 1 {
		t.Fatalf("len = %d, %d; want 2, 1", total, leased)
	}
}

func TestSchedReleaseUnclaim(t *testing.T) {
	s := newSched()
	s.add("a1", "A", "p", 1, t0)
	s.add("a2", "A", "p", 2, t0)
	schedClaim(t, s, t0, 10, "w1")
	s.release("a1", t0.Add(time.Hour))
	checkSched(t, s)
	if s.heldBy("a1", "w1") {
		t.Fatalf("heldBy after release")
	}
	if _, ok := s.leasedUntil("a1"); ok {
		t.Fatalf("leased after release")
	}
	ids, next := schedClaim(t, s, t0.Add(time.Minute), 10, "w1")
	wantClaim(t, "claim before the release's time", ids)
	if !next.Equal(t0.Add(time.Hour)) {
		t.Fatalf("next = %v, want the release's time", next)
	}
	ids, _ = schedClaim(t, s, t0.Add(time.Hour), 10, "w2")
	wantClaim(t, "claim at the release's time", ids, "a1")
	s.unclaim("a1")
	checkSched(t, s)
	ids, _ = schedClaim(t, s, t0.Add(time.Hour), 10, "w3")
	wantClaim(t, "claim after unclaim", ids, "a1")
	// Release a leased head, then the same head again while it is ready.
	s.release("a1", t0.Add(3*time.Hour))
	checkSched(t, s)
	s.release("a1", t0.Add(2*time.Hour))
	checkSched(t, s)
	_, next = schedClaim(t, s, t0.Add(time.Hour), 10, "w3")
	if !next.Equal(t0.Add(2 * time.Hour)) {
		t.Fatalf("next = %v after two releases", next)
	}
	s.release("nope", t0)
	s.unclaim("nope")
	s.remove("nope")
	checkSched(t, s)
}

func TestSchedRemove(t *testing.T) {
	s := newSched()
	s.add("a1", "A", "p", 1, t0)
	s.add("a2", "A", "p", 2, t0)
	s.add("a3", "A", "p", 3, t0)
	s.add("a4", "A", "p", 4, t0)
	s.remove("a3") // not the head: nothing changes
	checkSched(t, s)
	ids, _ := schedClaim(t, s, t0, 10, "w")
	wantClaim(t, "claim", ids, "a1")
	s.remove("a1") // the leased head
	checkSched(t, s)
	ids, _ = schedClaim(t, s, t0, 10, "w")
	wantClaim(t, "claim after a1", ids, "a2")
	s.unclaim("a2")
	s.remove("a2") // a ready head
	checkSched(t, s)
	ids, _ = schedClaim(t, s, t0, 10, "w")
	wantClaim(t, "claim after a2", ids, "a4")
	if s.has("a3") || !s.has("a4") {
		t.Fatalf("has is wrong")
	}
}

func TestSchedBookkeeping(t *testing.T) {
	s := newSched()
	var all []string
	for i := range 60 {
		id := fmt.Sprint("i", i)
		group := fmt.Sprint("g", i%7)
		if i%5 == 0 {
			group = ""
		}
		s.add(id, group, fmt.Sprint("p", i%3), int64(i+1), t0.Add(time.Duration(i%4)*time.Second))
		all = append(all, id)
	}
	checkSched(t, s)
	schedClaim(t, s, t0.Add(time.Minute), 20, "w")
	for i, id := range all {
		if i%2 == 0 {
			s.remove(id)
			checkSched(t, s)
		}
	}
	schedClaim(t, s, t0.Add(time.Minute), 5, "w")
	for i, id := range all {
		if i%2 == 1 {
			s.remove(id)
			checkSched(t, s)
		}
	}
	if len(s.items) != 0 || len(s.groups) != 0 || len(s.parts) != 0 || len(s.ready) != 0 || len(s.leased) != 0 || s.nLeased != 0 {
		t.Fatalf("after removing everything: %d items, %d groups, %d parts, %d ready, %d leased (%d)",
			len(s.items), len(s.groups), len(s.parts), len(s.ready), len(s.leased), s.nLeased)
	}
}

// TestSchedRebuildOrder adds a group's items out of order, as a rebuild
// from the database may.
func TestSchedRebuildOrder(t *testing.T) {
	s := newSched()
	s.add("a3", "A", "p", 3, t0)
	s.add("a1", "A", "q", 1, t0)
	s.add("a2", "A", "p", 2, t0)
	s.add("a1", "A", "q", 1, t0) // a duplicate is ignored
	checkSched(t, s)
	ids, _ := schedClaim(t, s, t0, 10, "w", "p")
	wantClaim(t, "claim skipping p", ids, "a1")
	s.remove("a1")
	ids, _ = schedClaim(t, s, t0, 10, "w", "q")
	wantClaim(t, "claim after a1", ids, "a2")
}

// TestSchedGroupAcrossPartitions checks that a group follows its head's
// partition, so that skipping uses the partition of the item handed out.
func TestSchedGroupAcrossPartitions(t *testing.T) {
	s := newSched()
	s.add("a1", "A", "p", 1, t0)
	s.add("a2", "A", "q", 2, t0)
	s.add("a3", "A", "p", 3, t0)
	ids, _ := schedClaim(t, s, t0, 10, "w", "p")
	wantClaim(t, "claim skipping p", ids)
	ids, _ = schedClaim(t, s, t0, 10, "w", "q")
	wantClaim(t, "claim skipping q", ids, "a1")
	s.remove("a1")
	checkSched(t, s)
	ids, _ = schedClaim(t, s, t0, 10, "w", "q")
	wantClaim(t, "claim of a2 skipping q", ids)
	ids, _ = schedClaim(t, s, t0, 10, "w", "p")
	wantClaim(t, "claim of a2 skipping p", ids, "a2")
	s.remove("a2")
	ids, _ = schedClaim(t, s, t0, 10, "w", "q")
	wantClaim(t, "claim of a3 skipping q", ids, "a3")
	s.remove("a3")
	checkSched(t, s)
	if len(s.parts) != 0 || len(s.groups) != 0 {
		t.Fatalf("%d partitions, %d groups left", len(s.parts), len(s.groups))
	}
}

// model is a slow, obviously correct scheduler.
type model struct {
	items map[string]*mItem
}

type mItem struct {
	id, group, part string
	seq             int64
	runAfter        time.Time
	leaseUntil      time.Time
	owner           string
}

// heads returns the first item of every group, by due time then seq.
func (m *model) heads() []*mItem {
	first := map[string]*mItem{}
	for _, it := range m.items {
		if h := first[it.group]; h == nil || it.seq < h.seq {
			first[it.group] = it
		}
	}
	var out []*mItem
	for _, it := range first {
		out = append(out, it)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].runAfter.Equal(out[j].runAfter) {
			return out[i].runAfter.Before(out[j].runAfter)
		}
		return out[i].seq < out[j].seq
	})
	return out
}

func (m *model) claim(now time.Time, limit int, lease time.Duration, owner string, skip map[string]bool) ([]string, time.Time) {
	for _, it := range m.items {
		if !it.leaseUntil.IsZero() && !it.leaseUntil.After(now) {
			it.leaseUntil = time.Time{}
		}
	}
	var ids []string
	var next time.Time
	for _, h := range m.heads() {
		if !h.leaseUntil.IsZero() || skip[h.part] {
			continue
		}
		if len(ids) < limit && !h.runAfter.After(now) {
			h.leaseUntil, h.owner = now.Add(lease), owner
			ids = append(ids, h.id)
			continue
		}
		if next.IsZero() || h.runAfter.Before(next) {
			next = h.runAfter
		}
	}
	for _, it := range m.items {
		if !it.leaseUntil.IsZero() && (next.IsZero() || it.leaseUntil.Before(next)) {
			next = it.leaseUntil
		}
	}
	if !next.IsZero() && !next.After(now) {
		next = now
	}
	return ids, next
}

func TestSchedRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	s := newSched()
	m := &model{items: map[string]*mItem{}}
	now := t0
	var seq int64
	var ids []string // every id ever added, for picking
	pick := func() string { return ids[rng.IntN(len(ids))] }
	pickLive := func() string { // mostly one that is still there
		for range 20 {
			if id := pick(); m.items[id] != nil {
				return id
			}
		}
		return pick()
	}
	maxItems := 0
	defer func() { t.Logf("at most %d items", maxItems) }()
	for step := range 20000 {
		switch op := rng.IntN(10); {
		case op < 3 && len(m.items) < 400 || len(ids) == 0: // add
			seq++
			id := fmt.Sprint("i", seq)
			group := fmt.Sprint("g", rng.IntN(8))
			if rng.IntN(4) == 0 {
				group = ""
			}
			part := fmt.Sprint("p", rng.IntN(4))
			runAfter := now.Add(time.Duration(rng.IntN(240)-60) * time.Second)
			s.add(id, group, part, seq, runAfter)
			mg := group
			if mg == "" {
				mg = "\x00" + id
			}
			m.items[id] = &mItem{id: id, group: mg, part: part, seq: seq, runAfter: runAfter}
			ids = append(ids, id)
		case op < 6: // claim
			limit := 1 + rng.IntN(4)
			lease := time.Duration(30+rng.IntN(150)) * time.Second
			owner := fmt.Sprint("w", rng.IntN(3))
			skip := map[string]bool{}
			var f func(string) bool
			if rng.IntN(2) == 0 {
				for p := range 4 {
					if rng.IntN(3) == 0 {
						skip[fmt.Sprint("p", p)] = true
					}
				}
				f = func(p string) bool { return skip[p] }
			}
			got, gotNext := s.claim(now, limit, lease, owner, f)
			want, wantNext := m.claim(now, limit, lease, owner, skip)
			if !slices.Equal(got, want) || !gotNext.Equal(wantNext) {
				t.Fatalf("step %d: claim(limit %d, skip %v) = %v, next %v; model %v, next %v",
					step, limit, skip, got, gotNext.Sub(t0), want, wantNext.Sub(t0))
			}
		case op < 7: // release or unclaim a claimed item, as a retry would
			id := pickLive()
			it := m.items[id]
			if it == nil || it.owner == "" {
				continue
			}
			if rng.IntN(2) == 0 {
				ra := now.Add(time.Duration(rng.IntN(120)) * time.Second)
				s.release(id, ra)
				it.runAfter = ra
			} else {
				s.unclaim(id)
			}
			it.leaseUntil, it.owner = time.Time{}, ""
		case op < 9: // remove, mostly finished work
			id := pickLive()
			if it := m.items[id]; it == nil || (it.owner == "" && rng.IntN(4) != 0) {
				continue
			}
			s.remove(id)
			delete(m.items, id)
		default:
			now = now.Add(time.Duration(rng.IntN(90)) * time.Second)
		}
		checkSched(t, s)
		total, _ := s.len()
		maxItems = max(maxItems, total)
		if total != len(m.items) {
			t.Fatalf("step %d: %d items, model %d", step, total, len(m.items))
		}
		for range 3 {
			id := pick()
			it := m.items[id]
			if s.has(id) != (it != nil) {
				t.Fatalf("step %d: has(%s) = %v", step, id, s.has(id))
			}
			for w := range 3 {
				owner := fmt.Sprint("w", w)
				if want := it != nil && it.owner == owner; s.heldBy(id, owner) != want {
					t.Fatalf("step %d: heldBy(%s, %s) = %v, model %v", step, id, owner, !want, want)
				}
			}
		}
	}
}

// TestItemStaysSmall: a long queue is mostly items never claimed yet, so
// an item keeps its claim state behind a pointer. 88 bytes is Go's
// 96-byte size class; the claim state inline made it 176.
func TestItemStaysSmall(t *testing.T) {
	if n := unsafe.Sizeof(item{}); n > 88 {
		t.Fatalf("item is %d bytes, want at most 88", n)
	}
}
