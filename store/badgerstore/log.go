package badgerstore

import (
	"fmt"

	"github.com/dgraph-io/badger/v4"
	"go.uber.org/zap"
)

// badgerLogger sends Badger's own messages to the store's logger. Badger
// reports every compaction and table flush at info level, which is
// routine for a database but noise for a sidecar, so its info goes to
// debug and its debug nowhere; its warnings and errors keep their level.
type badgerLogger struct{ l *zap.Logger }

func (b badgerLogger) Errorf(f string, a ...any)   { b.l.Error(trim(fmt.Sprintf(f, a...))) }
func (b badgerLogger) Warningf(f string, a ...any) { b.l.Warn(trim(fmt.Sprintf(f, a...))) }
func (b badgerLogger) Infof(f string, a ...any) {
	if ce := b.l.Check(zap.DebugLevel, ""); ce != nil {
		ce.Message = trim(fmt.Sprintf(f, a...))
		ce.Write()
	}
}
func (b badgerLogger) Debugf(string, ...any) {}

// trim drops the line break Badger ends most messages with.
func trim(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == ' ') {
		s = s[:len(s)-1]
	}
	return s
}

// Interface guard
var _ badger.Logger = badgerLogger{}
