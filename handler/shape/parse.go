package shape

import (
	"math/big"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// maxParseDepth is the deepest nesting parse takes, as encoding/json:
// deeper input goes to the slow path, which refuses it the same way.
const maxParseDepth = 10000

// maxFastDigits is how many decimal digits always fit an int.
const maxFastDigits = 18 - 9*(64-strconv.IntSize)/32

// parse reads exactly one JSON value, with JSON whitespace around it,
// straight into the values gojq takes: nil, bool, int, *big.Int, float64,
// string, []any and map[string]any. It is the fast path of Decode and
// Body: every body a shaping expression reads goes through it, and going
// through encoding/json's reflection into `any` and then converting the
// numbers cost about as much as running the expression.
//
// ok is false for anything it does not take: not JSON, invalid UTF-8
// (which encoding/json would replace, not refuse), nesting beyond
// maxParseDepth. Callers then take the slow path, so parse only has to be
// right where it says yes; FuzzParse holds it to encoding/json there.
func parse(b []byte) (v any, ok bool) {
	p := parser{b: b}
	p.space()
	v, ok = p.value(0)
	if !ok {
		return nil, false
	}
	p.space()
	return v, p.i == len(p.b)
}

type parser struct {
	b []byte
	i int
}

func (p *parser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) value(depth int) (any, bool) {
	if p.i >= len(p.b) {
		return nil, false
	}
	switch c := p.b[p.i]; {
	case c == '{':
		return p.object(depth + 1)
	case c == '[':
		return p.array(depth + 1)
	case c == '"':
		s, ok := p.string()
		return s, ok
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	}
	return nil, false
}

func (p *parser) literal(word string) bool {
	if len(p.b)-p.i < len(word) || string(p.b[p.i:p.i+len(word)]) != word {
		return false
	}
	p.i += len(word)
	return true
}

func (p *parser) object(depth int) (any, bool) {
	if depth > maxParseDepth {
		return nil, false
	}
	p.i++ // {
	m := map[string]any{}
	p.space()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return m, true
	}
	for {
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return nil, false
		}
		k, ok := p.string()
		if !ok {
			return nil, false
		}
		p.space()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return nil, false
		}
		p.i++
		p.space()
		v, ok := p.value(depth)
		if !ok {
			return nil, false
		}
		m[k] = v // a repeated name: the last one wins, as in encoding/json
		if more, ok := p.next('}'); !ok || !more {
			return m, ok
		}
	}
}

func (p *parser) array(depth int) (any, bool) {
	if depth > maxParseDepth {
		return nil, false
	}
	p.i++ // [
	a := []any{}
	p.space()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		return a, true
	}
	for {
		v, ok := p.value(depth)
		if !ok {
			return nil, false
		}
		a = append(a, v)
		if more, ok := p.next(']'); !ok || !more {
			return a, ok
		}
	}
}

// next reads what follows a member of an object or array: a comma (more
// follows) or the closing byte (the end); anything else is not JSON.
func (p *parser) next(closing byte) (more, ok bool) {
	p.space()
	if p.i >= len(p.b) {
		return false, false
	}
	switch p.b[p.i] {
	case ',':
		p.i++
		p.space()
		return true, true
	case closing:
		p.i++
		return false, true
	}
	return false, false
}

// string reads a string token at p.i (a '"'): one allocation when it has
// no escapes, which is nearly always.
func (p *parser) string() (string, bool) {
	start := p.i + 1
	for j := start; j < len(p.b); {
		c := p.b[j]
		switch {
		case c == '"':
			p.i = j + 1
			return string(p.b[start:j]), true
		case c == '\\':
			return p.escaped(start, j)
		case c < 0x20:
			return "", false
		case c < utf8.RuneSelf:
			j++
		default:
			r, size := utf8.DecodeRune(p.b[j:])
			if r == utf8.RuneError && size == 1 {
				return "", false
			}
			j += size
		}
	}
	return "", false
}

// escaped finishes a string with escapes, the plain bytes from start to j
// already checked.
func (p *parser) escaped(start, j int) (string, bool) {
	out := make([]byte, 0, j-start+16)
	out = append(out, p.b[start:j]...)
	for j < len(p.b) {
		c := p.b[j]
		switch {
		case c == '"':
			p.i = j + 1
			return string(out), true
		case c == '\\':
			if j+1 >= len(p.b) {
				return "", false
			}
			j += 2
			switch p.b[j-1] {
			case '"', '\\', '/':
				out = append(out, p.b[j-1])
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, ok := hex4(p.b, j)
				if !ok {
					return "", false
				}
				j += 4
				if utf16.IsSurrogate(r) {
					// A pair makes one character; a lone half is
					// replaced, as encoding/json does.
					if r2, ok := hex4(p.b, j+2); ok && p.b[j] == '\\' && p.b[j+1] == 'u' {
						if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
							j += 6
							out = utf8.AppendRune(out, d)
							continue
						}
					}
					r = utf8.RuneError
				}
				out = utf8.AppendRune(out, r)
			default:
				return "", false
			}
		case c < 0x20:
			return "", false
		case c < utf8.RuneSelf:
			out = append(out, c)
			j++
		default:
			r, size := utf8.DecodeRune(p.b[j:])
			if r == utf8.RuneError && size == 1 {
				return "", false
			}
			out = append(out, p.b[j:j+size]...)
			j += size
		}
	}
	return "", false
}

// hex4 reads the four hex digits of a \u escape at b[j:].
func hex4(b []byte, j int) (rune, bool) {
	if j < 0 || j+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[j : j+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// number reads a number token as normalize would have it: int when it is
// an integer that fits, *big.Int when it is a larger integer, else
// float64 (±Inf when out of range, refused on output).
func (p *parser) number() (any, bool) {
	start := p.i
	j := p.i
	if p.b[j] == '-' {
		j++
	}
	digits := j
	if j >= len(p.b) {
		return nil, false
	}
	if p.b[j] == '0' {
		j++
	} else if p.b[j] >= '1' && p.b[j] <= '9' {
		for j < len(p.b) && p.b[j] >= '0' && p.b[j] <= '9' {
			j++
		}
	} else {
		return nil, false
	}
	integer := true
	if j < len(p.b) && p.b[j] == '.' {
		integer = false
		j++
		k := j
		for j < len(p.b) && p.b[j] >= '0' && p.b[j] <= '9' {
			j++
		}
		if j == k {
			return nil, false
		}
	}
	if j < len(p.b) && (p.b[j] == 'e' || p.b[j] == 'E') {
		integer = false
		j++
		if j < len(p.b) && (p.b[j] == '+' || p.b[j] == '-') {
			j++
		}
		k := j
		for j < len(p.b) && p.b[j] >= '0' && p.b[j] <= '9' {
			j++
		}
		if j == k {
			return nil, false
		}
	}
	p.i = j
	tok := p.b[start:j]
	if integer && j-digits <= maxFastDigits {
		// So few digits always fit an int: no strconv, no string.
		var n int
		for _, c := range p.b[digits:j] {
			n = n*10 + int(c-'0')
		}
		if digits > start {
			n = -n
		}
		return n, true
	}
	s := string(tok)
	if integer {
		if n, err := strconv.ParseInt(s, 10, 0); err == nil {
			return int(n), true
		}
		if b, ok := new(big.Int).SetString(s, 10); ok {
			return b, true
		}
	}
	f, _ := strconv.ParseFloat(s, 64)
	return f, true
}
