package shape

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/itchyny/gojq"
)

// outside are jq's names that read or write outside the expression: the
// process's inputs, environment and stderr, its exit, and module files.
// gojq without the matching options already makes them empty or errors;
// refusing them at config load says so where the operator looks.
var outside = map[string]string{
	"input":             "reads the process's input",
	"inputs":            "reads the process's input",
	"input_filename":    "reads the process's input",
	"input_line_number": "reads the process's input",
	"$ENV":              "reads the environment",
	"env":               "reads the environment",
	"debug":             "writes to the log",
	"stderr":            "writes to the log",
	"halt":              "exits the process; use error(…)",
	"halt_error":        "exits the process; use error(…)",
	"modulemeta":        "reads module files",
	"get_search_list":   "reads module files",
	"$__prog_args":      "reads the process's arguments",
}

// check walks a parsed expression, refuses what reaches outside,
// collects the string literals passed to error/1, and tells whether the
// program may run inline (see inlineSafe). It walks by reflection so that
// new node types of gojq are walked too.
func check(q *gojq.Query) (texts map[string]bool, inline bool, err error) {
	c := checker{texts: map[string]bool{}, called: map[string]bool{}, defined: map[string]bool{}}
	c.walk(reflect.ValueOf(q))
	if c.err != nil {
		return nil, false, c.err
	}
	return c.texts, c.inlineSafe(), nil
}

type checker struct {
	texts map[string]bool
	err   error
	// called and defined are the functions the program calls and
	// defines (with their parameters), as name/arity; costlyOp is set by
	// an operator of costly.
	called, defined map[string]bool
	costlyOp        bool
}

func (c *checker) walk(v reflect.Value) {
	if c.err != nil {
		return
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return
		}
		switch n := v.Interface().(type) {
		case *gojq.Func:
			c.fn(n)
		case *gojq.ObjectKeyVal:
			// {$ENV} is shorthand for {"ENV": $ENV}.
			if strings.HasPrefix(n.Key, "$") {
				c.name(n.Key)
			}
		case *gojq.FuncDef:
			c.defined[callSig(n.Name, len(n.Args))] = true
			for _, a := range n.Args {
				c.defined[callSig(a, 0)] = true
			}
		case *gojq.Query:
			if costly[n.Op] {
				c.costlyOp = true
			}
		case *gojq.Import:
			c.err = fmt.Errorf("jq: import and include are not available")
			return
		}
		c.walk(v.Elem())
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				c.walk(v.Field(i))
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			c.walk(v.Index(i))
		}
	}
}

func (c *checker) fn(f *gojq.Func) {
	c.name(f.Name)
	if strings.HasPrefix(f.Name, "$") {
		c.called[f.Name] = true
	} else {
		c.called[callSig(f.Name, len(f.Args))] = true
	}
	if f.Name == "error" && len(f.Args) == 1 {
		if t := f.Args[0].Term; t != nil && f.Args[0].Op == 0 && t.Type == gojq.TermTypeString &&
			t.Format == "" && t.Str != nil && t.Str.Queries == nil && len(t.SuffixList) == 0 {
			c.texts[t.Str.Str] = true
		}
	}
}

func (c *checker) name(name string) {
	if why, ok := outside[name]; ok {
		c.err = fmt.Errorf("jq: %s is not available in agenthook expressions: it %s", name, why)
	}
}
