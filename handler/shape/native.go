package shape

import "encoding/json"

// Native is a Go rendering of a built-in expression, for the inputs where
// it is sure to give what jq would. It returns ok false for any other
// input (and may for any input at all), and Run then evaluates the
// expression with jq as usual: so a Native only has to be right where it
// says yes, and the adapters' differential tests hold it to jq there.
//
// It must not modify input (which other programs may read after it), nor
// keep it, and it must run in time linear in its input: Run calls it on
// the caller's goroutine, without the program's timeout.
//
// Why: the adapters' expressions run on every shaped request and answer,
// and gojq's evaluation (environment, closures, the timeout's timer)
// cost more than the rest of the shaping together.
type Native func(input any, env Env) (out any, ok bool)

// WithNative returns a copy of p that tries n before jq. The expression's
// text, limits and errors stay p's: n changes how fast a run is, never
// what it gives.
func (p *Program) WithNative(n Native) *Program {
	q := *p
	q.native = n
	return &q
}

// HasNative reports whether Run tries a Native before jq.
func (p *Program) HasNative() bool { return p.native != nil }

// runNative is Run's fast path: the native output, encoded under the
// program's output bound, or ok false to run jq.
func (p *Program) runNative(input any, env Env) (json.RawMessage, bool, error) {
	v, ok := p.native(input, env)
	if !ok {
		return nil, false, nil
	}
	b, ee := encode(v, p.lim.MaxOutput)
	if ee != nil {
		return nil, true, runError(p.stage, ee.code, ee.msg)
	}
	return b, true, nil
}
