package badgerstore

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestBadgerLoggerLevels(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	l := badgerLogger{zap.New(core)}
	l.Errorf("e %d\n", 1)
	l.Warningf("w %d\n", 2)
	l.Infof("i %d\n", 3)
	l.Debugf("d %d\n", 4)
	want := []struct {
		level zapcore.Level
		msg   string
	}{{zapcore.ErrorLevel, "e 1"}, {zapcore.WarnLevel, "w 2"}, {zapcore.DebugLevel, "i 3"}}
	got := logs.All()
	if len(got) != len(want) {
		t.Fatalf("logged %v, want %v", got, want)
	}
	for i, w := range want {
		if got[i].Level != w.level || got[i].Message != w.msg {
			t.Errorf("entry %d: %s %q, want %s %q", i, got[i].Level, got[i].Message, w.level, w.msg)
		}
	}
}

// TestOpenLogs: the store logs through the logger it is given, and Badger
// does too.
func TestOpenLogs(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	s, err := Open(Options{Dir: t.TempDir(), Logger: zap.New(core), GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if logs.Len() == 0 {
		t.Fatalf("nothing was logged")
	}
	for _, e := range logs.All() {
		if e.Level > zapcore.InfoLevel {
			t.Errorf("a clean open and close logged at %s: %q", e.Level, e.Message)
		}
	}
}
