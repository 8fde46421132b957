package store

import (
	"slices"
	"testing"
	"time"
)

func TestPositionAdmits(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	p := &Position{At: t0, ID: "m"}
	for _, c := range []struct {
		at   time.Time
		id   string
		want bool
	}{
		{t0.Add(-time.Nanosecond), "z", true},
		{t0, "a", true},
		{t0, "m", false},
		{t0, "n", false},
		{t0.Add(time.Nanosecond), "a", false},
	} {
		if got := p.Admits(c.at, c.id); got != c.want {
			t.Errorf("Admits(%v, %s) = %v, want %v", c.at, c.id, got, c.want)
		}
	}
	if !(*Position)(nil).Admits(t0, "x") {
		t.Error("a nil position must admit everything")
	}
}

func TestNewerFirst(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	type rec struct {
		at time.Time
		id string
	}
	rs := []rec{{t0, "a"}, {t0.Add(time.Second), "a"}, {t0, "b"}}
	slices.SortFunc(rs, func(x, y rec) int { return NewerFirst(x.at, x.id, y.at, y.id) })
	if rs[0].at != t0.Add(time.Second) || rs[1].id != "b" || rs[2].id != "a" {
		t.Fatalf("order %v", rs)
	}
}

func TestInRange(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	if !InRange(t0, t0, time.Time{}) || InRange(t0, time.Time{}, t0) || !InRange(t0, time.Time{}, t0.Add(1)) || InRange(t0, t0.Add(1), time.Time{}) {
		t.Fatal("InRange is not [since, until)")
	}
}
