package shape

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/itchyny/gojq"
)

// Run evaluates the program on input (a value from Decode or Body, or any
// gojq value) with the stage's variables, and returns its one output as
// JSON. Errors are *Error; their messages never quote input.
//
// A program with a Native (WithNative) asks it first, on the caller's
// goroutine and without the timeout, and runs jq only where it steps
// aside.
//
// Run returns by its deadline. gojq checks the context between
// operations, but a single operation (searching a long text for a long
// substring) runs to its end: a program that can do such an operation
// runs on a goroutine of its own and is left to finish, its result thrown
// away; the others run on the caller's goroutine (see cheapFuncs). Neither input nor the returned bytes are touched by it after Run
// returns, as long as the caller does not modify input, which gojq never
// does (it copies on write), so one decoded body can go through several
// programs.
func (p *Program) Run(ctx context.Context, input any, env Env) (json.RawMessage, error) {
	if env == nil || env.Stage().name != p.stage.name {
		// A wiring mistake, not a body's: say so plainly.
		return nil, runError(p.stage, CodeFailed, "run with the variables of another stage")
	}
	if p.native != nil {
		if out, ok, err := p.runNative(input, env); ok {
			return out, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, p.lim.Timeout)
	defer cancel()
	vars := env.values()
	if p.inline {
		return p.evalSafe(ctx, input, vars)
	}
	type result struct {
		out json.RawMessage
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := p.evalSafe(ctx, input, vars)
		done <- result{out, err}
	}()
	select {
	case r := <-done:
		return r.out, r.err
	case <-ctx.Done():
		select {
		case r := <-done: // finished just in time
			return r.out, r.err
		default:
			return nil, p.stopped(ctx)
		}
	}
}

// evalSafe is eval that survives a panic of gojq: should some body make
// it panic, that body must not take the process down.
func (p *Program) evalSafe(ctx context.Context, input any, vars []any) (out json.RawMessage, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, &Error{Code: CodeFailed, Message: p.stage.name + " expression: the jq engine failed", panicked: true}
		}
	}()
	return p.eval(ctx, input, vars)
}

func (p *Program) eval(ctx context.Context, input any, vars []any) (json.RawMessage, error) {
	iter := p.code.RunWithContext(ctx, input, vars...)
	v, ok := iter.Next()
	if !ok {
		return nil, runError(p.stage, CodeFailed, "gave no value (one is needed)")
	}
	if e, isErr := v.(error); isErr {
		return nil, p.failure(ctx, e)
	}
	// Exactly one value: a second one, or an error after the first, is
	// refused, so a stray comma cannot silently drop output.
	if v2, more := iter.Next(); more {
		if e, isErr := v2.(error); isErr {
			return nil, p.failure(ctx, e)
		}
		return nil, runError(p.stage, CodeFailed, "gave more than one value (one is needed; wrap them in [...] or use first(...))")
	}
	b, ee := encode(v, p.lim.MaxOutput)
	if ee != nil {
		return nil, runError(p.stage, ee.code, ee.msg)
	}
	return b, nil
}

// stopped is the error of a run whose context ended.
func (p *Program) stopped(ctx context.Context) *Error {
	msg := fmt.Sprintf("ran out of its %v", p.lim.Timeout)
	if errors.Is(ctx.Err(), context.Canceled) {
		msg = "was canceled"
	}
	err := runError(p.stage, CodeTimeout, msg)
	err.cause = ctx.Err()
	return err
}

// failure turns an error value of gojq into an *Error.
func (p *Program) failure(ctx context.Context, e error) *Error {
	if ctx.Err() != nil && (errors.Is(e, context.DeadlineExceeded) || errors.Is(e, context.Canceled)) {
		return p.stopped(ctx)
	}
	// error(v): the value is the operator's own text only when it is one
	// of the expression's error("…") literals.
	var ve gojq.ValueError
	if errors.As(e, &ve) {
		if s, ok := ve.Value().(string); ok && p.errorTexts[s] {
			return runError(p.stage, CodeFailed, "error: "+truncate(s, maxMessageSize))
		}
		return runError(p.stage, CodeFailed, "error(...) was called with a value that is not one of the expression's error(\"…\") texts")
	}
	return runError(p.stage, CodeFailed, mask(e.Error()))
}
