package shape

import (
	"bytes"
	"encoding/json"
	"math"
	"math/big"
	"slices"
	"strconv"
	"unicode/utf8"
)

// encodeError is why an output was refused, with its code.
type encodeError struct{ code, msg string }

// encoder writes a gojq value as compact JSON, refusing what JSON cannot
// say (NaN, infinities, values of other Go types) and stopping as soon as
// the output passes its bound, so a huge value is never encoded whole.
type encoder struct {
	buf   bytes.Buffer
	limit int
	err   *encodeError
}

func encode(v any, limit int) ([]byte, *encodeError) {
	e := &encoder{limit: limit}
	e.value(v, 0)
	if e.err != nil {
		return nil, e.err
	}
	return e.buf.Bytes(), nil
}

// room reports whether n more bytes fit, and records the refusal if not.
func (e *encoder) room(n int) bool {
	if e.err != nil {
		return false
	}
	if e.buf.Len()+n > e.limit {
		e.err = &encodeError{CodeTooLarge, "the output is over " + strconv.Itoa(e.limit) + " bytes"}
		return false
	}
	return true
}

func (e *encoder) write(s string) {
	if e.room(len(s)) {
		e.buf.WriteString(s)
	}
}

func (e *encoder) value(v any, depth int) {
	if e.err != nil {
		return
	}
	switch v := v.(type) {
	case nil:
		e.write("null")
	case bool:
		e.write(strconv.FormatBool(v))
	case int:
		e.write(strconv.Itoa(v))
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			e.err = &encodeError{CodeNotJSON, "the output holds NaN or an infinite number"}
			return
		}
		b, _ := json.Marshal(v) // finite floats always marshal, as JSON prints them
		e.write(string(b))
	case *big.Int:
		e.write(v.String())
	case string:
		e.string(v)
	case []any:
		if !e.nest(depth) {
			return
		}
		e.write("[")
		for i, x := range v {
			if i > 0 {
				e.write(",")
			}
			e.value(x, depth+1)
		}
		e.write("]")
	case map[string]any:
		if !e.nest(depth) {
			return
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		// gojq sorts keys too; a fixed order makes outputs comparable.
		slices.Sort(keys)
		e.write("{")
		for i, k := range keys {
			if i > 0 {
				e.write(",")
			}
			e.string(k)
			e.write(":")
			e.value(v[k], depth+1)
		}
		e.write("}")
	default:
		e.err = &encodeError{CodeNotJSON, "the output holds a value that is not JSON"}
	}
}

func (e *encoder) nest(depth int) bool {
	if depth >= MaxDepth {
		e.err = &encodeError{CodeTooLarge, "the output is nested more than " + strconv.Itoa(MaxDepth) + " levels deep"}
		return false
	}
	return true
}

// string writes s quoted: no HTML escaping (the bodies are for programs),
// invalid UTF-8 replaced by U+FFFD, as encoding/json does.
func (e *encoder) string(s string) {
	// Every byte takes at least one byte, plus the quotes: refuse early.
	if !e.room(len(s) + 2) {
		return
	}
	e.buf.WriteByte('"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			e.buf.WriteString(s[start:i])
			switch c {
			case '"', '\\':
				e.buf.WriteByte('\\')
				e.buf.WriteByte(c)
			case '\n':
				e.buf.WriteString(`\n`)
			case '\r':
				e.buf.WriteString(`\r`)
			case '\t':
				e.buf.WriteString(`\t`)
			default:
				e.buf.WriteString(`\u00`)
				e.buf.WriteByte(hex[c>>4])
				e.buf.WriteByte(hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			e.buf.WriteString(s[start:i])
			e.buf.WriteString("\ufffd")
			i += size
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but break JavaScript
		// evaluators; encoding/json escapes them too.
		if r == '\u2028' || r == '\u2029' {
			e.buf.WriteString(s[start:i])
			e.buf.WriteString(`\u202`)
			e.buf.WriteByte(hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	e.buf.WriteString(s[start:])
	e.buf.WriteByte('"')
	// Escapes may have grown the string past the bound.
	e.room(0)
}

const hex = "0123456789abcdef"
