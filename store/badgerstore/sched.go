package badgerstore

import (
	"container/heap"
	"time"
)

// sched indexes the claimable work of one kind (tasks or deliveries) in
// memory, so a claim costs O(log n) instead of a scan of the database.
//
// Items belong to groups that run one at a time in seq order (a chat's
// tasks, or deliveries sharing an OrderKey); an item without a group is a
// group of its own. Only a group's head can be claimed. Groups belong to
// partitions (an agent, or a callback) so that a claim can skip whole
// partitions cheaply: the agents this instance does not serve, or the
// callbacks that are paused. A group sits in the partition of its head, so
// that what is skipped is always the partition of the item handed out, even
// when the items of one group belong to several partitions.
//
// The database stays the source of truth: the index is rebuilt from it at
// open, and it is only mutated by the writer goroutine, inside the
// transaction that persists the same change. A reader-side mutex guards
// the few values read from elsewhere (counts).
type sched struct {
	items  map[string]*item
	groups map[string]*group
	parts  map[string]*partition

	ready  partHeap  // partitions with at least one ready group
	leased leaseHeap // claimed heads, by lease expiry

	nLeased int
}

type item struct {
	id       string
	group    *group
	seq      int64
	runAfter time.Time
	part     string // the item's own partition key
	leaseIdx int    // index in sched.leased, -1 when not leased
	// c is the item's claim state, nil until it is first claimed: most
	// of a long queue is never claimed yet, and this keeps its items
	// small (measured at 100k queued tasks: 176 bytes an item before,
	// 96 after).
	c *claimState
}

// claimState is what an item's claims leave.
//
// Claims of tasks are not written to the database (one process owns it,
// and a crash ends every lease anyway), so the claim's state lives here:
// the attempt count including the running one, when it started, and the
// task as the claim returned it.
type claimState struct {
	leaseUntil time.Time // zero when not leased
	owner      string    // who claimed it last; kept after the lease ends
	attempts   int
	startedAt  time.Time
	task       any
}

// claim returns the item's claim state, making it if need be.
func (it *item) claim() *claimState {
	if it.c == nil {
		it.c = &claimState{}
	}
	return it.c
}

// claimed returns a copy of the item's claim state (zero if never
// claimed).
func (it *item) claimed() claimState {
	if it.c == nil {
		return claimState{}
	}
	return *it.c
}

type group struct {
	key     string
	part    *partition
	items   []*item // ordered by seq; items[0] is the head
	heapIdx int     // index in part.groups, -1 when not ready
}

type partition struct {
	key     string
	groups  groupHeap // groups whose head is ready to be claimed (maybe later)
	heapIdx int       // index in sched.ready, -1 when absent
	nGroups int       // groups in the partition, ready or leased
}

func newSched() *sched {
	return &sched{
		items:  make(map[string]*item),
		groups: make(map[string]*group),
		parts:  make(map[string]*partition),
	}
}

// len returns the number of items, and how many of them are leased.
func (s *sched) len() (total, leased int) { return len(s.items), s.nLeased }

func (s *sched) has(id string) bool { _, ok := s.items[id]; return ok }

// add indexes an item at the tail of its group. groupKey "" makes a
// group of one. seq must grow within a group.
func (s *sched) add(id, groupKey, partKey string, seq int64, runAfter time.Time) {
	if _, dup := s.items[id]; dup {
		return
	}
	if groupKey == "" {
		groupKey = "\x00" + id
	}
	g := s.groups[groupKey]
	it := &item{id: id, seq: seq, runAfter: runAfter, leaseIdx: -1, part: partKey}
	s.items[id] = it
	if g != nil {
		it.group = g
		// Keep seq order even if items arrive out of order (at rebuild).
		i := len(g.items)
		for i > 0 && g.items[i-1].seq > seq {
			i--
		}
		g.items = append(g.items, nil)
		copy(g.items[i+1:], g.items[i:])
		g.items[i] = it
		if i == 0 && g.heapIdx >= 0 {
			// Only at rebuild can an earlier item arrive late; seqs grow
			// while running, so a leased head is never displaced.
			heap.Remove(&g.part.groups, g.heapIdx)
			s.fixPart(g.part)
			s.follow(g)
			s.pushGroup(g)
		}
		return
	}
	g = &group{key: groupKey, items: []*item{it}, heapIdx: -1}
	it.group = g
	s.groups[groupKey] = g
	s.follow(g)
	s.pushGroup(g)
}

// follow puts a group, which must be in no heap, in the partition of its
// head.
func (s *sched) follow(g *group) {
	key := g.items[0].part
	if g.part != nil {
		if g.part.key == key {
			return
		}
		if g.part.nGroups--; g.part.nGroups == 0 {
			delete(s.parts, g.part.key)
		}
	}
	p := s.parts[key]
	if p == nil {
		p = &partition{key: key, heapIdx: -1}
		s.parts[key] = p
	}
	p.nGroups++
	g.part = p
}

// claim leases up to limit due heads, skipping partitions for which skip
// returns true, and returns their ids. next is the earliest time a head
// that was not claimed becomes due (zero if none).
func (s *sched) claim(now time.Time, limit int, lease time.Duration, owner string, skip func(part string) bool) (ids []string, next time.Time) {
	return s.claimCapped(now, limit, 0, lease, owner, skip)
}

// claimCapped is claim taking at most perPart heads from one partition
// (0: no cap).
func (s *sched) claimCapped(now time.Time, limit, perPart int, lease time.Duration, owner string, skip func(part string) bool) (ids []string, next time.Time) {
	return s.claimWithin(now, limit, lease, owner, skip, caps{perPart: perPart})
}

// caps bound what one claim takes from one partition, and from one class
// of partitions (the callbacks of one agent).
type caps struct {
	perPart int // 0: no cap
	// class names a partition's class; perClass caps the heads taken
	// from the partitions of one class (0: no cap).
	class    func(part string) string
	perClass int
}

// claimWithin is claim under caps. Partitions held back by a cap, unlike
// skipped ones, still count for next: their heads are due now.
func (s *sched) claimWithin(now time.Time, limit int, lease time.Duration, owner string, skip func(part string) bool, c caps) (ids []string, next time.Time) {
	s.reap(now)
	var aside []*partition
	var taken map[*partition]int
	if c.perPart > 0 {
		taken = make(map[*partition]int)
	}
	var classTaken map[string]int
	if c.perClass > 0 && c.class != nil {
		classTaken = make(map[string]int)
	}
	for len(ids) < limit && len(s.ready) > 0 {
		p := s.ready[0]
		if (skip != nil && skip(p.key)) || (classTaken != nil && classTaken[c.class(p.key)] >= c.perClass) {
			heap.Pop(&s.ready)
			aside = append(aside, p)
			continue
		}
		g := p.groups[0]
		head := g.items[0]
		if head.runAfter.After(now) {
			break
		}
		heap.Pop(&p.groups)
		s.fixPart(p)
		hc := head.claim()
		hc.leaseUntil = now.Add(lease)
		hc.owner = owner
		heap.Push(&s.leased, head)
		s.nLeased++
		ids = append(ids, head.id)
		if taken != nil {
			if taken[p]++; taken[p] >= c.perPart && p.heapIdx >= 0 {
				heap.Remove(&s.ready, p.heapIdx)
				aside = append(aside, p)
			}
		}
		if classTaken != nil {
			// The class's other partitions are set aside when the loop
			// meets them; this one at once. A partition already set
			// aside is out of the heap (heapIdx -1), so never twice.
			cl := c.class(p.key)
			if classTaken[cl]++; classTaken[cl] >= c.perClass && p.heapIdx >= 0 {
				heap.Remove(&s.ready, p.heapIdx)
				aside = append(aside, p)
			}
		}
	}
	for _, p := range aside {
		heap.Push(&s.ready, p)
	}
	// The earliest moment something we may claim becomes due. The heap's
	// minimum answers, unless it is skipped; then look at every partition.
	if len(s.ready) > 0 {
		if skip == nil || !skip(s.ready[0].key) {
			next = s.ready[0].groups[0].items[0].runAfter
		} else {
			for _, p := range s.ready {
				if t := p.groups[0].items[0].runAfter; !skip(p.key) && (next.IsZero() || t.Before(next)) {
					next = t
				}
			}
		}
	}
	if len(s.leased) > 0 {
		if t := s.leased[0].c.leaseUntil; next.IsZero() || t.Before(next) {
			next = t
		}
	}
	if !next.IsZero() && !next.After(now) {
		// Something is due now but skipped or over the limit: the caller
		// decides when to come back.
		next = now
	}
	return ids, next
}

// reap returns heads whose lease ran out to their partitions.
func (s *sched) reap(now time.Time) {
	for len(s.leased) > 0 && !s.leased[0].c.leaseUntil.After(now) {
		it := heap.Pop(&s.leased).(*item)
		it.c.leaseUntil = time.Time{}
		s.nLeased--
		s.pushGroup(it.group)
	}
}

// release ends an item's lease and makes it due at runAfter.
func (s *sched) release(id string, runAfter time.Time) {
	it := s.items[id]
	if it == nil {
		return
	}
	s.unlease(it)
	if it.c != nil {
		it.c.owner, it.c.task, it.c.startedAt = "", nil, time.Time{}
	}
	it.runAfter = runAfter
	g := it.group
	if g.items[0] == it {
		if g.heapIdx >= 0 {
			heap.Fix(&g.part.groups, g.heapIdx)
			s.fixPart(g.part)
		} else {
			s.pushGroup(g)
		}
	}
}

// adopt takes over the claims of an older index of the same items, so a
// rebuild does not hand out work that is running.
func (s *sched) adopt(old *sched) {
	for id, o := range old.items {
		it := s.items[id]
		if it == nil {
			continue
		}
		if o.c == nil {
			continue
		}
		c := *o.c
		c.leaseUntil = time.Time{}
		it.c = &c
		if o.c.leaseUntil.IsZero() || it.group.items[0] != it {
			continue
		}
		g := it.group
		if g.heapIdx >= 0 {
			heap.Remove(&g.part.groups, g.heapIdx)
			s.fixPart(g.part)
		}
		it.c.leaseUntil = o.c.leaseUntil
		heap.Push(&s.leased, it)
		s.nLeased++
	}
}

// unclaim undoes a claim that could not be recorded.
func (s *sched) unclaim(id string) {
	if it := s.items[id]; it != nil {
		s.release(id, it.runAfter)
	}
}

// remove drops an item (finished work). The next item of its group, if
// any, becomes the head.
func (s *sched) remove(id string) {
	it := s.items[id]
	if it == nil {
		return
	}
	delete(s.items, id)
	s.unlease(it)
	g := it.group
	wasHead := g.items[0] == it
	for i, x := range g.items {
		if x == it {
			g.items = append(g.items[:i], g.items[i+1:]...)
			break
		}
	}
	if !wasHead {
		return
	}
	if g.heapIdx >= 0 {
		heap.Remove(&g.part.groups, g.heapIdx)
		s.fixPart(g.part)
	}
	if len(g.items) == 0 {
		delete(s.groups, g.key)
		if g.part.nGroups--; g.part.nGroups == 0 {
			delete(s.parts, g.part.key)
		}
		return
	}
	s.follow(g)
	s.pushGroup(g)
}

// leasedUntil reports whether id is leased, and until when.
func (s *sched) leasedUntil(id string) (time.Time, bool) {
	it := s.items[id]
	if it == nil || it.c == nil || it.c.leaseUntil.IsZero() {
		return time.Time{}, false
	}
	return it.c.leaseUntil, true
}

// heldBy reports whether owner made the last claim of id. A lease that ran
// out still counts until someone else claims the item.
func (s *sched) heldBy(id, owner string) bool {
	it := s.items[id]
	return it != nil && it.heldBy(owner)
}

// heldBy reports whether owner made the item's last claim.
func (it *item) heldBy(owner string) bool {
	return it.c != nil && it.c.owner != "" && it.c.owner == owner
}

func (s *sched) unlease(it *item) {
	if it.leaseIdx >= 0 {
		heap.Remove(&s.leased, it.leaseIdx)
		it.c.leaseUntil = time.Time{}
		s.nLeased--
	}
}

// pushGroup makes a group's head claimable, unless the head is leased.
func (s *sched) pushGroup(g *group) {
	if g.heapIdx >= 0 || len(g.items) == 0 || g.items[0].leaseIdx >= 0 {
		return
	}
	heap.Push(&g.part.groups, g)
	s.fixPart(g.part)
}

// fixPart restores a partition's place in the ready heap after its own
// heap changed.
func (s *sched) fixPart(p *partition) {
	switch {
	case len(p.groups) == 0 && p.heapIdx >= 0:
		heap.Remove(&s.ready, p.heapIdx)
	case len(p.groups) > 0 && p.heapIdx < 0:
		heap.Push(&s.ready, p)
	case len(p.groups) > 0:
		heap.Fix(&s.ready, p.heapIdx)
	}
}

// before orders heads by due time, then creation order.
func before(a, b *item) bool {
	if !a.runAfter.Equal(b.runAfter) {
		return a.runAfter.Before(b.runAfter)
	}
	return a.seq < b.seq
}

type groupHeap []*group

func (h groupHeap) Len() int           { return len(h) }
func (h groupHeap) Less(i, j int) bool { return before(h[i].items[0], h[j].items[0]) }
func (h groupHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx, h[j].heapIdx = i, j
}
func (h *groupHeap) Push(x any) { g := x.(*group); g.heapIdx = len(*h); *h = append(*h, g) }
func (h *groupHeap) Pop() any {
	old := *h
	g := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	g.heapIdx = -1
	return g
}

type partHeap []*partition

func (h partHeap) Len() int { return len(h) }
func (h partHeap) Less(i, j int) bool {
	return before(h[i].groups[0].items[0], h[j].groups[0].items[0])
}
func (h partHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx, h[j].heapIdx = i, j
}
func (h *partHeap) Push(x any) { p := x.(*partition); p.heapIdx = len(*h); *h = append(*h, p) }
func (h *partHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	p.heapIdx = -1
	return p
}

type leaseHeap []*item

func (h leaseHeap) Len() int           { return len(h) }
func (h leaseHeap) Less(i, j int) bool { return h[i].c.leaseUntil.Before(h[j].c.leaseUntil) }
func (h leaseHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].leaseIdx, h[j].leaseIdx = i, j
}
func (h *leaseHeap) Push(x any) { it := x.(*item); it.leaseIdx = len(*h); *h = append(*h, it) }
func (h *leaseHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	it.leaseIdx = -1
	return it
}
