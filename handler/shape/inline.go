package shape

import (
	"strconv"
	"strings"

	"github.com/itchyny/gojq"
)

// Run evaluates most programs on the caller's goroutine, and some on a
// goroutine of their own. The deadline reaches gojq between operations,
// so a run made only of operations that cost about as much as the data
// they are given took to build stops close to its deadline by itself;
// handing it to another goroutine and waking the caller when it is done
// (a fifth of a short run's cost on a busy server) buys nothing. The
// input itself is bounded (the endpoint's body limit) and was just
// decoded, and an operation linear in it costs about what decoding it
// did. A few native functions can take far longer in one call: sorting
// is n·log n in the body (a second and more for a million numbers),
// substring and element search (indices, contains) is quadratic, and a
// regular expression compiled from a body's text is as large as the
// text. Assignments (.[n] = v) can build an array as long as any number
// in one step. Programs that use any of those, or any
// function not named below, run on their own goroutine, and Run stops
// waiting for them at the deadline.
//
// cheapFuncs are jq's builtins, by name and number of arguments, that
// are constant time or linear in their input, or defined in jq (and so
// checked between operations). Iterating an object and tojson order its
// keys: n·log n in the keys of one object, which a body bounds to a few
// hundred thousand; that is left inline. Functions and parameters the
// program defines itself, and variables, are cheap too.
var cheapFuncs = setOf(
	// values and types
	"type/0", "length/0", "utf8bytelength/0", "not/0", "empty/0", "error/0", "error/1",
	"null/0", "true/0", "false/0", "strings/0", "objects/0", "arrays/0", "booleans/0",
	"numbers/0", "nulls/0", "iterables/0", "scalars/0", "values/0", "infinite/0", "nan/0",
	"isinfinite/0", "isnan/0", "isnormal/0", "isvalid/1", "tostring/0", "tonumber/0",
	"toarray/0", "abs/0", "floor/0", "ceil/0", "round/0", "sqrt/0", "fabs/0", "trunc/0",
	"builtins/0",
	// control
	"select/1", "first/0", "first/1", "last/0", "last/1", "limit/2", "skip/2", "until/2",
	"while/2", "repeat/1", "range/1", "range/2", "range/3", "recurse/0", "recurse/1",
	"recurse/2", "isempty/1", "any/0", "any/1", "any/2", "all/0", "all/1", "all/2", "in/1",
	"has/1", "add/0", "add/1", "map/1", "map_values/1", "walk/1",
	// paths and objects
	"getpath/1", "paths/0", "paths/1", "path/1", "leaf_paths/0",
	"keys_unsorted/0", "from_entries/0",
	"tostream/0", "fromstream/1", "truncate_stream/1",
	// arrays
	"reverse/0", "min/0", "max/0", "min_by/1", "max_by/1", "flatten/0", "flatten/1",
	"join/1", "combinations/0",
	// strings
	"tojson/0", "fromjson/0", "ascii_downcase/0", "ascii_upcase/0", "ltrimstr/1",
	"rtrimstr/1", "trim/0", "ltrim/0", "rtrim/0", "startswith/1", "endswith/1",
	"explode/0", "implode/0", "split/1", "ascii/0",
	// time
	"now/0", "todate/0", "fromdate/0", "todateiso8601/0", "fromdateiso8601/0",
	"mktime/0", "gmtime/0", "localtime/0", "strftime/1", "strptime/1", "dateadd/2",
)

// costly are the operators that can build an array as long as any number
// in one step.
var costly = map[gojq.Operator]bool{
	gojq.OpAssign: true, gojq.OpModify: true, gojq.OpUpdateAdd: true, gojq.OpUpdateSub: true,
	gojq.OpUpdateMul: true, gojq.OpUpdateDiv: true, gojq.OpUpdateMod: true, gojq.OpUpdateAlt: true,
}

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// callSig is how cheapFuncs and a program's definitions name a function.
func callSig(name string, args int) string { return name + "/" + strconv.Itoa(args) }

// inlineSafe reports whether a program may run on the caller's
// goroutine: every function it calls is a builtin of cheapFuncs, a
// function or parameter it defines, or a variable, and it uses no costly
// operator.
func (c *checker) inlineSafe() bool {
	if c.costlyOp {
		return false
	}
	for sig := range c.called {
		if strings.HasPrefix(sig, "$") || cheapFuncs[sig] || c.defined[sig] {
			continue
		}
		return false
	}
	return true
}
