package shape

import (
	"strings"
	"unicode/utf8"
)

// Codes of run errors, stable: endpoints put them in error answers and
// tasks in their error sentence.
const (
	CodeFailed     = "expression_failed"
	CodeTimeout    = "expression_timeout"
	CodeTooLarge   = "expression_output_too_large"
	CodeNotJSON    = "expression_not_json"
	maxMessageSize = 200
)

// Error is a failed run. Message names the stage and what went wrong,
// never the bytes of a body.
type Error struct {
	Code    string
	Message string
	// cause is kept for errors.Is (context.Canceled, DeadlineExceeded);
	// it is never a gojq error, whose text may quote the input.
	cause error
	// panicked marks a gojq panic turned into an error, for the fuzz
	// target to flag.
	panicked bool
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }
func (e *Error) Unwrap() error { return e.cause }

func runError(stage Stage, code, msg string) *Error {
	return &Error{Code: code, Message: stage.name + " expression: " + msg}
}

// mask hides what in a gojq message may come from a body: everything
// quoted ("…" and `…`, which is how gojq previews strings, object keys and
// regular expressions) and every number standing on its own. Names of
// functions and types stay, so "cannot iterate over: string (\"secret\")"
// becomes "cannot iterate over: string (\"…\")". The result is bounded.
func mask(msg string) string {
	var b strings.Builder
	for i := 0; i < len(msg); {
		c := msg[i]
		switch {
		case c == '"' || c == '`':
			// Skip to the closing quote; a preview cut short by gojq may
			// have none, and then the rest of the message goes.
			j := i + 1
			for j < len(msg) && msg[j] != c {
				if msg[j] == '\\' && c == '"' {
					j++
				}
				j++
			}
			b.WriteByte(c)
			b.WriteString("…")
			b.WriteByte(c)
			i = j + 1
		case c == '\'':
			// Go's JSON errors quote one character: 'x'.
			if i+2 < len(msg) && msg[i+2] == '\'' {
				b.WriteString("'…'")
				i += 3
				continue
			}
			b.WriteByte(c)
			i++
		case isDigit(c) && (i == 0 || !isWordByte(msg[i-1])):
			j := i
			for j < len(msg) && (isWordByte(msg[j]) || msg[j] == '.' || ((msg[j] == '+' || msg[j] == '-') && (msg[j-1] == 'e' || msg[j-1] == 'E'))) {
				j++
			}
			b.WriteString("N")
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return truncate(b.String(), maxMessageSize)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isWordByte(c byte) bool {
	return c == '_' || isDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'z') || c >= utf8.RuneSelf
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
