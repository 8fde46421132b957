package handler

import (
	"slices"
	"testing"
)

func TestRegistry(t *testing.T) {
	t.Parallel()
	r := NewRegistry("raw", map[string]int{"raw": 1, "zeta": 3, "cognigy": 2})
	if v, ok := r.Get(""); !ok || v != 1 {
		t.Errorf(`Get("") = %d, %v; want the default`, v, ok)
	}
	if v, ok := r.Get("cognigy"); !ok || v != 2 {
		t.Errorf(`Get("cognigy") = %d, %v`, v, ok)
	}
	if _, ok := r.Get("nope"); ok {
		t.Error("an unknown name was found")
	}
	if r.Default() != 1 {
		t.Error("Default")
	}
	if got := r.Names(); !slices.Equal(got, []string{"raw", "cognigy", "zeta"}) {
		t.Errorf("Names() = %v", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("a default outside the registry was accepted")
		}
	}()
	NewRegistry("raw", map[string]int{"other": 1})
}
