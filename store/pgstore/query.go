package pgstore

import (
	"strconv"
	"strings"
	"time"

	"github.com/agenthook/agenthook/store"
)

// query builds the WHERE clause of a listing from the filters that are
// set, with numbered arguments. Column names are the caller's constants;
// every value is an argument.
type query struct {
	conds []string
	args  []any
}

// arg adds an argument and returns its placeholder.
func (q *query) arg(v any) string {
	q.args = append(q.args, v)
	return "$" + strconv.Itoa(len(q.args))
}

// where adds a condition: prefix, the argument v, then suffix (such as a
// closing parenthesis).
func (q *query) where(prefix string, v any, suffix ...string) {
	q.conds = append(q.conds, prefix+q.arg(v)+strings.Join(suffix, ""))
}

// whereSet adds the condition when v is set: an empty filter selects
// any value.
func (q *query) whereSet(prefix, v string) {
	if v != "" {
		q.where(prefix, v)
	}
}

// timeRange keeps col in [since, until); zero bounds are open.
func (q *query) timeRange(col string, since, until time.Time) {
	if !since.IsZero() {
		q.where(col+` >= `, since)
	}
	if !until.IsZero() {
		q.where(col+` < `, until)
	}
}

// after keeps the rows after a position in a listing ordered by at DESC,
// id DESC (ids in byte order).
func (q *query) after(at, id string, p *store.Position) {
	if p == nil {
		return
	}
	// A row comparison, which an index on (at DESC, id DESC) serves.
	q.conds = append(q.conds, `(`+at+`, `+id+` COLLATE "C") < (`+q.arg(p.At)+`, `+q.arg(p.ID)+`::text)`)
}

func (q *query) sql() string {
	if len(q.conds) == 0 {
		return "true"
	}
	return strings.Join(q.conds, " AND ")
}
