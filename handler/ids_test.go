package handler

import "testing"

// Ids are 22 URL-safe characters, valid, and never begin with '-' (so a
// command line never reads one as a flag); 1 in 64 would without the
// redraw, so 4096 draws all but surely meet the case.
func TestNewID(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 4096 {
		id := NewID()
		if len(id) != 22 || !ValidID(id) || id[0] == '-' || seen[id] {
			t.Fatalf("NewID() = %q", id)
		}
		seen[id] = true
	}
}
