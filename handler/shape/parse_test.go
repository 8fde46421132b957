package shape

import (
	"encoding/json"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// parseSeeds are bodies at parse's edges: numbers at every boundary of
// int, escapes and surrogates, repeated names, whitespace, and near-JSON.
var parseSeeds = []string{
	`{"prompt":"hello","n":1,"x":[1,2.5,-3e2,true,false,null,{}]}`,
	`0`, `-0`, `-0.0`, `1e400`, `-1e400`, `1E+2`, `0.1e-2`,
	`999999999999999999`, `9223372036854775807`, `9223372036854775808`, `-9223372036854775808`,
	`-9223372036854775809`, `123456789012345678901234567890`, `1.0`, `01`, `1.`, `.5`, `-`, `+1`,
	`"\u00e9\ud83d\ude00\n\t\"\\\/\b\f\r"`, `"\ud800"`, `"\udc00\ud800"`, `"\ud800\u0041"`, `"\ud83d\ude0"`,
	`"\x"`, "\"a\x01\"", "\"\xff\"", `{"a":1,"a":2}`, " \t\r\n[ 1 , 2 ] \n", `[1,]`, `{"a":1,}`, `{"a" 1}`,
	`[1] [2]`, `nul`, `truex`, `{"é":"ü"}`, `[[[[[]]]]]`, strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000), "\u00a0{}", `""`, `"`, `{`, `[`,
}

func TestParseMatchesEncodingJSON(t *testing.T) {
	for _, s := range parseSeeds {
		checkParse(t, []byte(s))
	}
	// The numbers gojq must see as they were written.
	v, ok := parse([]byte(`[9007199254740993, 123456789012345678901234567890, -5, 2.5]`))
	if !ok {
		t.Fatal("parse refused an array of numbers")
	}
	want := []any{9007199254740993, bigInt("123456789012345678901234567890"), -5, 2.5}
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("parse = %#v, want %#v", v, want)
	}
}

func bigInt(s string) *big.Int {
	b, _ := new(big.Int).SetString(s, 10)
	return b
}

// FuzzParse holds the fast parser to encoding/json: where parse says yes,
// encoding/json (with normalize) takes the same bytes and gives the same
// value; where encoding/json takes JSON that is valid UTF-8 and not
// nested beyond the limit, parse says yes too (else every such body would
// silently take the slow path).
func FuzzParse(f *testing.F) {
	for _, s := range parseSeeds {
		if len(s) < 1000 { // the nesting bound is TestParseMatchesEncodingJSON's: mutating 20 KB seeds is slow
			f.Add([]byte(s))
		}
	}
	f.Fuzz(checkParse)
}

func checkParse(t *testing.T, b []byte) {
	got, ok := parse(b)
	want, err := decodeSlow(b)
	if ok {
		if err != nil {
			t.Fatalf("parse took %q, which encoding/json refuses: %v", b, err)
		}
		if !json.Valid(b) || !utf8.Valid(b) {
			t.Fatalf("parse took %q, which is not valid UTF-8 JSON", b)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("parse(%q) = %#v, encoding/json gives %#v", b, got, want)
		}
		return
	}
	if err == nil && utf8.Valid(b) && depth(b) <= maxParseDepth {
		t.Fatalf("parse refused %q, which encoding/json takes", b)
	}
}

// depth is the deepest nesting of brackets in b, counting those in
// strings too (an upper bound, which is all the check needs).
func depth(b []byte) int {
	d, max := 0, 0
	for _, c := range b {
		switch c {
		case '[', '{':
			d++
			if d > max {
				max = d
			}
		case ']', '}':
			d--
		}
	}
	return max
}
