package shape

import (
	"context"
)

// CodeNotBoolean is the code of a filter whose value is not true or false.
const CodeNotBoolean = "expression_not_boolean"

// Match runs a filter program (see Filter) and reports its answer. The
// program must give exactly one value, true or false: anything else, null
// included, is an *Error, so that a filter that reads a field by a wrong
// name fails loudly instead of silently dropping every event.
func (p *Program) Match(ctx context.Context, input any, env Env) (bool, error) {
	out, err := p.Run(ctx, input, env)
	if err != nil {
		return false, err
	}
	switch string(out) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, runError(p.stage, CodeNotBoolean, "gave a value that is not true or false")
}
