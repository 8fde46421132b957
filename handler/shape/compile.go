package shape

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/itchyny/gojq"
)

// Defaults of Limits.
const (
	DefaultTimeout   = 100 * time.Millisecond
	DefaultMaxOutput = 1 << 20
	// MaxDepth bounds the nesting of an output: deeper JSON breaks parsers
	// (Python's among them) on the other side.
	MaxDepth = 1000
)

// Limits bound each run of an expression. Zero fields take the defaults.
type Limits struct {
	// Timeout bounds one run.
	Timeout time.Duration
	// MaxOutput bounds the output's JSON encoding, in bytes.
	MaxOutput int
}

func (l Limits) withDefaults() Limits {
	if l.Timeout == 0 {
		l.Timeout = DefaultTimeout
	}
	if l.MaxOutput == 0 {
		l.MaxOutput = DefaultMaxOutput
	}
	return l
}

// Program is a compiled expression of one stage. It is safe for
// concurrent use.
type Program struct {
	stage Stage
	src   string
	code  *gojq.Code
	lim   Limits
	// errorTexts are the string literals of the expression's own
	// error("…") calls: safe to show, since they are config.
	errorTexts map[string]bool
	// inline: Run evaluates it on the caller's goroutine (see
	// cheapFuncs).
	inline bool
	// native, when set, is tried before jq (WithNative).
	native Native
}

// Compile parses and compiles a jq expression for a stage. Its errors are
// gojq's text (with the character offset of a syntax error), ready for the
// caller to prefix with the config line.
func Compile(stage Stage, src string, lim Limits) (*Program, error) {
	if stage.name == "" {
		return nil, errors.New("jq: no stage")
	}
	if lim.Timeout < 0 || lim.MaxOutput < 0 {
		return nil, errors.New("jq: limits must not be negative")
	}
	q, err := gojq.Parse(src)
	if err != nil {
		return nil, fmt.Errorf("jq: %v%s", err, where(src, err))
	}
	texts, inline, err := check(q)
	if err != nil {
		return nil, err
	}
	// No WithInputIter, WithEnvironLoader or WithModuleLoader: input(s)
	// fail to compile, $ENV is empty and modules cannot load, even if
	// check missed a spelling.
	code, err := gojq.Compile(q, gojq.WithVariables(stage.vars))
	if err != nil {
		return nil, fmt.Errorf("jq: %v (%s expressions have %s)", err, stage.name, stage.varList())
	}
	return &Program{stage: stage, src: src, code: code, lim: lim.withDefaults(), errorTexts: texts, inline: inline}, nil
}

// where says where a syntax error is, as a 1-based character position:
// gojq counts the bytes read up to the end of the offending token.
func where(src string, err error) string {
	var pe *gojq.ParseError
	if !errors.As(err, &pe) {
		return ""
	}
	at := pe.Offset - len(pe.Token)
	if at < 0 || at > len(src) {
		return ""
	}
	if at >= len(strings.TrimRight(src, " \t\r\n")) {
		return " at the end of the expression"
	}
	return fmt.Sprintf(" at character %d", utf8.RuneCountInString(src[:at])+1)
}

// MustCompile is Compile for expressions built into the program, such as
// the adapter presets; it panics on an error.
func MustCompile(stage Stage, src string, lim Limits) *Program {
	p, err := Compile(stage, src, lim)
	if err != nil {
		panic(err)
	}
	return p
}

// Stage is the stage the program was compiled for.
func (p *Program) Stage() Stage { return p.stage }

// String is the expression's text.
func (p *Program) String() string { return p.src }

// Limits are the program's bounds, defaults filled in.
func (p *Program) Limits() Limits { return p.lim }

// Inline reports whether Run evaluates the program on the caller's
// goroutine (see cheapFuncs).
func (p *Program) Inline() bool { return p.inline }
