package store

import (
	"slices"
	"time"
)

// Listings (ListDeliveries, ListTasks) go newest first and page with a
// Position: the place of the last record a page returned. A record's
// place is its listing time and its id, which never change while it is
// listed, so a page that starts after a Position neither repeats nor
// skips a record, however many are written meanwhile (new records are
// newer than any page already read).

// Position is a place in a newest-first listing: a record's listing time
// and id.
type Position struct {
	At time.Time
	ID string
}

// Admits reports whether a record at (at, id) comes after p in a
// newest-first listing. A nil Position admits everything.
func (p *Position) Admits(at time.Time, id string) bool {
	if p == nil {
		return true
	}
	if c := at.Compare(p.At); c != 0 {
		return c < 0
	}
	return id < p.ID
}

// InRange reports whether t is in [since, until); zero bounds are open.
func InRange(t, since, until time.Time) bool {
	return (since.IsZero() || !t.Before(since)) && (until.IsZero() || t.Before(until))
}

// NewerFirst orders two records of a listing: the later time first, and
// at the same time the greater id. It is a comparison for slices.SortFunc.
func NewerFirst(atA time.Time, idA string, atB time.Time, idB string) int {
	if c := atB.Compare(atA); c != 0 {
		return c
	}
	switch {
	case idA > idB:
		return -1
	case idA < idB:
		return 1
	}
	return 0
}

// DefaultListLimit is the page size of a listing whose filter sets none.
const DefaultListLimit = 100

// ListTime is a delivery's listing time under f: when it failed for a
// listing of dead letters (Status failed), when it was created otherwise.
func (f *DeliveryFilter) ListTime(d *Delivery) time.Time {
	if f.Status == DeliveryFailed {
		return d.UpdatedAt
	}
	return d.CreatedAt
}

// Matches reports whether d passes every field of f but the position and
// the limit.
func (f *DeliveryFilter) Matches(d *Delivery) bool {
	return d.Agent == f.Agent &&
		(f.Status == "" || d.Status == f.Status) &&
		(f.CallbackID == "" || d.CallbackID == f.CallbackID) &&
		(f.TaskID == "" || d.TaskID == f.TaskID) &&
		(f.ChatID == "" || d.ChatID == f.ChatID) &&
		(f.EventType == "" || d.EventType == f.EventType) &&
		InRange(f.ListTime(d), f.Since, f.Until)
}

// RecoverFilter selects the dead letters RecoverDeliveries makes pending
// again.
type RecoverFilter struct {
	Agent string
	// Since and Until bound the time a delivery failed: [Since, Until).
	// A zero bound is open.
	Since, Until time.Time
	// CallbackID, if set, takes only the deliveries of that callback.
	CallbackID string
	// DryRun counts the deliveries that would be recovered and changes
	// nothing.
	DryRun bool
}

// Matches reports whether the failed delivery d is one f selects.
func (f *RecoverFilter) Matches(d *Delivery) bool {
	return d.Agent == f.Agent && d.Status == DeliveryFailed &&
		(f.CallbackID == "" || d.CallbackID == f.CallbackID) &&
		InRange(d.UpdatedAt, f.Since, f.Until)
}

// TaskFilter selects tasks to list, newest first by creation time.
type TaskFilter struct {
	// Agents, if not empty, takes only the tasks of these agents.
	Agents []string
	ChatID string
	Status TaskStatus // empty: any
	// Since and Until bound the creation time: [Since, Until).
	Since, Until time.Time
	// After, if set, starts the page after this position (the creation
	// time and id of the last task of the previous page).
	After *Position
	Limit int // 0: DefaultListLimit
}

// Matches reports whether t passes every field of f but the position and
// the limit.
func (f *TaskFilter) Matches(t *Task) bool {
	if len(f.Agents) > 0 && !slices.Contains(f.Agents, t.Agent) {
		return false
	}
	return (f.ChatID == "" || t.ChatID == f.ChatID) &&
		(f.Status == "" || t.Status == f.Status) &&
		InRange(t.CreatedAt, f.Since, f.Until)
}
