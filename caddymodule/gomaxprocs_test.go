package caddymodule

import (
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestBadgerProcs(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name                   string
		setting, current, cpus int
		env                    bool
		want                   int
		why                    string
	}{
		{"auto on 1 core", 0, 1, 1, false, 4, "badger compactions would otherwise delay requests"},
		{"auto on 2 cores", 0, 2, 2, false, 8, "badger compactions would otherwise delay requests"},
		{"auto on 4 cores", 0, 4, 4, false, 16, "badger compactions would otherwise delay requests"},
		{"auto on 8 cores", 0, 8, 8, false, 16, "badger compactions would otherwise delay requests"},
		{"auto on 2 cores, already raised", 0, 12, 2, false, 12, "enough processors"},
		{"auto on 16 cores", 0, 16, 16, false, 16, "enough processors"},
		{"auto on 64 cores", 0, 64, 64, false, 64, "enough processors"},
		{"auto under a CPU quota", 0, 2, 64, false, 2, "a CPU quota applies"},
		{"auto with the environment variable", 0, 3, 2, true, 3, "GOMAXPROCS is set in the environment"},
		{"auto with the environment variable at the cores", 0, 2, 2, true, 2, "GOMAXPROCS is set in the environment"},
		{"off", gomaxprocsOff, 2, 2, false, 2, "gomaxprocs off"},
		{"configured above", 32, 2, 2, false, 32, "configured"},
		{"configured below", 1, 8, 8, false, 1, "configured"},
		{"configured beats the environment", 6, 2, 2, true, 6, "configured"},
	} {
		got, why := badgerProcs(c.setting, c.current, c.cpus, c.env)
		if got != c.want || why != c.why {
			t.Errorf("%s: badgerProcs(%d, %d, %d, %v) = %d %q, want %d %q", c.name, c.setting, c.current, c.cpus, c.env, got, why, c.want, c.why)
		}
	}
}

func TestBadgerStorageGomaxprocsCaddyfile(t *testing.T) {
	t.Parallel()
	for input, want := range map[string]int{
		"badger":                            0,
		"badger /a {\n\tgomaxprocs auto\n}": 0,
		"badger /a {\n\tgomaxprocs off\n}":  gomaxprocsOff,
		"badger {\n\tgomaxprocs 8\n}":       8,
		"badger /a {\n\tgomaxprocs 1024\n}": 1024,
	} {
		var b BadgerStorage
		if err := b.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input)); err != nil {
			t.Fatalf("%q: %v", input, err)
		}
		if b.GOMAXPROCS != want {
			t.Errorf("%q: gomaxprocs %d, want %d", input, b.GOMAXPROCS, want)
		}
	}
	for _, input := range []string{
		"badger /a {\n\tgomaxprocs\n}",
		"badger /a {\n\tgomaxprocs 0\n}",
		"badger /a {\n\tgomaxprocs -1\n}",
		"badger /a {\n\tgomaxprocs 1025\n}",
		"badger /a {\n\tgomaxprocs lots\n}",
		"badger /a {\n\tgomaxprocs 2 4\n}",
	} {
		var b BadgerStorage
		if err := b.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input)); err == nil {
			t.Errorf("%q was accepted", input)
		}
	}
}

// TestBadgerStorageGomaxprocsJSON checks the JSON form's bounds: a config
// written by hand reaches Provision without the Caddyfile's checks.
func TestBadgerStorageGomaxprocsJSON(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for n, ok := range map[int]bool{-2: false, -1: true, 0: true, 16: true, 1024: true, 1025: false} {
		b := &BadgerStorage{Dir: dir, GOMAXPROCS: n}
		err := b.Provision(caddy.Context{})
		if (err == nil) != ok {
			t.Errorf("gomaxprocs %d: Provision error %v, want ok=%v", n, err, ok)
		}
	}
}
