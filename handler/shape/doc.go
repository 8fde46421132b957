// Package shape runs jq expressions (github.com/itchyny/gojq) that reshape
// bodies between callers and agent backends: a caller's body into what a
// backend takes (the request stage), a backend's answer into what callers
// get (the answer stage), a finished task's event into a callback's body
// (the payload stage), and an event into a callback's yes or no (the
// filter stage, whose value must be true or false).
//
// Expressions are config, written by the operator; the bodies they read
// come from callers and backends and are not trusted. So:
//
//   - expressions are compiled once, at config load, and refused there if
//     they use a variable their stage does not have or a function that
//     reaches outside (input, inputs, $ENV, env, input_filename, debug,
//     stderr, halt, halt_error, modules);
//   - every run has a deadline and a bound on the size of its JSON output,
//     and must give exactly one value that is JSON (no NaN or infinity);
//   - run errors are *Error values with a stable code, and their messages
//     never quote the bodies: gojq's messages are kept with every string
//     and number in them masked.
//
// Memory is bounded by the deadline only as far as gojq checks it between
// operations: a single operation (a string repeated two billion times)
// runs to its end. Expressions are the operator's, so this is theirs to
// avoid; bodies cannot change what an expression does, only its inputs.
package shape
