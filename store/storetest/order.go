package storetest

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/agenthook/agenthook/store"
)

var deliveryOrderTests = []test{
	{"OneAtATime", testOrderOneAtATime},
	{"PendingRetryBlocks", testOrderRetryBlocks},
	{"AcrossTasks", testOrderAcrossTasks},
	{"LeaseExpiry", testOrderLeaseExpiry},
	{"Release", testOrderRelease},
	{"WithoutKeyInParallel", testOrderParallel},
	{"SkipByEachDeliverysCallback", testOrderSkip},
	{"Many", testOrderMany},
}

func testOrderOneAtATime(h *harness) {
	d1 := h.newDelivery("agent-a", "cb-1", "k", []byte("1"))
	d2 := h.newDelivery("agent-a", "cb-1", "k", []byte("2"))
	d3 := h.newDelivery("agent-a", "cb-1", "k", []byte("3"))
	d4 := h.newDelivery("agent-a", "cb-1", "", []byte("4"))
	d5 := h.newDelivery("agent-a", "cb-1", "", []byte("5"))
	h.enqueue(d1, d2, d3, d4, d5)
	h.wantIDs("first claim", h.claimDeliveryIDs("d1", 10), []string{d1.ID, d4.ID, d5.ID})
	h.wantIDs("claim while d1 runs", h.claimDeliveryIDs("d1", 10), nil)
	h.record(d1.ID, "d1", store.DeliveryDelivered, time.Time{})
	h.wantIDs("claim after d1 was delivered", h.claimDeliveryIDs("d1", 10), []string{d2.ID})
	h.record(d2.ID, "d1", store.DeliveryFailed, time.Time{})
	h.wantIDs("claim after d2 failed", h.claimDeliveryIDs("d1", 10), []string{d3.ID})
}

func testOrderRetryBlocks(h *harness) {
	d1 := h.newDelivery("agent-a", "cb-1", "k", []byte("1"))
	d2 := h.newDelivery("agent-a", "cb-1", "k", []byte("2"))
	h.enqueue(d1, d2)
	h.wantIDs("first claim", h.claimDeliveryIDs("d1", 10), []string{d1.ID})
	due := h.now().Add(5 * time.Minute)
	h.record(d1.ID, "d1", store.DeliveryPending, due)
	got, next := h.claimDeliveriesNext("d1", 10)
	if len(got) != 0 {
		h.Fatalf("claimed %v while d1 waits for its retry", ids(got))
	}
	wantTime(h, "next", next, due)
	h.clock.Advance(5 * time.Minute)
	h.wantIDs("claim when d1 is due", h.claimDeliveryIDs("d1", 10), []string{d1.ID})
	h.record(d1.ID, "d1", store.DeliveryDelivered, time.Time{})
	h.wantIDs("claim after d1", h.claimDeliveryIDs("d1", 10), []string{d2.ID})
}

func testOrderAcrossTasks(h *harness) {
	d1 := h.newDelivery("agent-a", "cb-1", "k", []byte("1"))
	h.enqueue(d1)
	d2 := h.newDelivery("agent-a", "cb-1", "k", []byte("2"))
	h.enqueue(d2)
	d3 := h.newDelivery("agent-a", "cb-1", "other", []byte("3"))
	h.enqueue(d3)
	h.wantIDs("first claim", h.claimDeliveryIDs("d1", 10), []string{d1.ID, d3.ID})
	h.record(d1.ID, "d1", store.DeliveryDelivered, time.Time{})
	h.wantIDs("claim after d1", h.claimDeliveryIDs("d1", 10), []string{d2.ID})
}

func testOrderLeaseExpiry(h *harness) {
	d1 := h.newDelivery("agent-a", "cb-1", "k", []byte("1"))
	d2 := h.newDelivery("agent-a", "cb-1", "k", []byte("2"))
	h.enqueue(d1, d2)
	h.wantIDs("first claim", h.claimDeliveryIDs("d1", 10), []string{d1.ID})
	h.clock.Advance(lease + time.Minute)
	h.wantIDs("claim after the lease", h.claimDeliveryIDs("d2", 10), []string{d1.ID})
	h.record(d1.ID, "d2", store.DeliveryDelivered, time.Time{})
	h.wantIDs("claim after d1", h.claimDeliveryIDs("d2", 10), []string{d2.ID})
}

func testOrderRelease(h *harness) {
	d1 := h.newDelivery("agent-a", "cb-1", "k", []byte("1"))
	d2 := h.newDelivery("agent-a", "cb-1", "k", []byte("2"))
	h.enqueue(d1, d2)
	h.claimDeliveries("d1", 10)
	if err := h.s.ReleaseDelivery(h.ctx, d1.ID, "d1"); err != nil {
		h.Fatalf("ReleaseDelivery: %v", err)
	}
	h.wantIDs("claim after release", h.claimDeliveryIDs("d2", 10), []string{d1.ID})
}

func testOrderParallel(h *harness) {
	var want []string
	var ds []*store.Delivery
	for i := range 4 {
		d := h.newDelivery("agent-a", "cb-1", "", []byte(fmt.Sprint(i)))
		ds = append(ds, d)
		want = append(want, d.ID)
	}
	h.enqueue(ds...)
	h.wantIDs("claim", h.claimDeliveryIDs("d1", 10), want)
}

// testOrderSkip checks that Skip applies to each delivery's own callback,
// also when deliveries to different callbacks share an OrderKey.
func testOrderSkip(h *harness) {
	d1 := h.newDelivery("agent-a", "cb-1", "k", []byte("1"))
	d2 := h.newDelivery("agent-a", "cb-2", "k", []byte("2"))
	h.enqueue(d1, d2)
	h.wantIDs("claim skipping cb-1", h.claimDeliveryIDs("d1", 10, "cb-1"), nil)
	h.wantIDs("claim skipping cb-2", h.claimDeliveryIDs("d1", 10, "cb-2"), []string{d1.ID})
	h.record(d1.ID, "d1", store.DeliveryDelivered, time.Time{})
	h.wantIDs("claim skipping cb-2", h.claimDeliveryIDs("d1", 10, "cb-2"), nil)
	h.wantIDs("claim skipping cb-1", h.claimDeliveryIDs("d1", 10, "cb-1"), []string{d2.ID})
}

// testOrderMany runs 40 deliveries over 4 order keys and 2 callbacks
// through random outcomes and checks order and exclusivity per key.
func testOrderMany(h *harness) {
	const nKeys, n = 4, 40
	queue := map[string][]string{} // order key -> unsettled ids in order
	keyOf := map[string]string{}
	for i := 0; i < n; i += 4 {
		var ds []*store.Delivery
		for j := i; j < i+4; j++ {
			k := fmt.Sprint("key-", (j*3)%nKeys)
			d := h.newDelivery("agent-a", fmt.Sprint("cb-", j%2), k, []byte(fmt.Sprint(j)))
			ds = append(ds, d)
			queue[k] = append(queue[k], d.ID)
			keyOf[d.ID] = k
		}
		h.enqueue(ds...)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	running := map[string]string{}
	settled := 0
	for round := 0; settled < n; round++ {
		if round > 20*n {
			h.Fatalf("no progress after %d rounds: %d settled", round, settled)
		}
		for _, d := range h.claimDeliveries("d1", 1+rng.IntN(3)) {
			k := keyOf[d.ID]
			if r, ok := running[k]; ok {
				h.Fatalf("claimed %s while %s of key %s runs", d.ID, r, k)
			}
			if want := queue[k][0]; d.ID != want {
				h.Fatalf("claimed %s of key %s, want %s first", d.ID, k, want)
			}
			running[k] = d.ID
		}
		for _, k := range slices.Sorted(maps.Keys(running)) {
			id := running[k]
			switch rng.IntN(5) {
			case 0:
			case 1:
				h.record(id, "d1", store.DeliveryPending, h.now())
				delete(running, k)
			case 2:
				if err := h.s.ReleaseDelivery(h.ctx, id, "d1"); err != nil {
					h.Fatalf("ReleaseDelivery: %v", err)
				}
				delete(running, k)
			case 3:
				h.record(id, "d1", store.DeliveryFailed, time.Time{})
				queue[k] = queue[k][1:]
				delete(running, k)
				settled++
			default:
				h.record(id, "d1", store.DeliveryDelivered, time.Time{})
				queue[k] = queue[k][1:]
				delete(running, k)
				settled++
			}
		}
	}
	h.wantDeliveryCounts(0, len(h.list("agent-a", store.DeliveryFailed, 100)))
}
