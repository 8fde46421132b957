package handler

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/agenthook/agenthook/store"
)

// TestEnvelope: Len is exact, the output is JSON, and the answer decodes
// to what the backend sent, for every kind and for edge bytes.
func TestEnvelope(t *testing.T) {
	t.Parallel()
	head := struct {
		ID  string `json:"id"`
		Tag string `json:"tag"`
	}{"x", "<&>"}
	bodies := map[string][]byte{
		"json":        []byte(`{"a":"<b>","n":[1,2,3]}`),
		"text":        []byte("quotes \" backslash \\ tab\t cr\r lf\n \u2028 \u2029 grüße"),
		"invalid":     {0xff, 0xfe, 'a', 0xc3},
		"controls":    {'a', 0, 1, 0x1f, 0x7f},
		"all bytes":   allBytes(),
		"large 0xff":  bytes.Repeat([]byte{0xff}, 3<<20),
		"large quote": bytes.Repeat([]byte{'"'}, 1<<20),
	}
	for name, body := range bodies {
		for _, ct := range []string{"", "application/json", "text/plain", "application/octet-stream"} {
			r := &store.Result{StatusCode: 200, ContentType: ct, Body: body}
			a := AnswerOf(r)
			env, err := NewEnvelope(head, a)
			if err != nil {
				t.Fatal(err)
			}
			out := env.Bytes()
			if len(out) != env.Len() {
				t.Fatalf("%s (%q): Len %d, wrote %d", name, ct, env.Len(), len(out))
			}
			if !json.Valid(out) || !utf8.Valid(out) {
				t.Fatalf("%s (%q): not UTF-8 JSON: %.200q", name, ct, out)
			}
			if len(out) > 2*len(body)+200 {
				t.Fatalf("%s (%q): %d bytes of JSON for %d bytes", name, ct, len(out), len(body))
			}
			var got struct {
				ID           string          `json:"id"`
				Tag          string          `json:"tag"`
				Result       json.RawMessage `json:"result"`
				ResultBase64 *string         `json:"result_base64"`
				ContentType  *string         `json:"content_type"`
			}
			if err := json.Unmarshal(out, &got); err != nil || got.ID != "x" || got.Tag != "<&>" {
				t.Fatalf("%s: %v %+v", name, err, got)
			}
			switch a.Kind {
			case AnswerJSON:
				if !bytes.Equal(got.Result, bytes.TrimSpace(body)) || got.ResultBase64 != nil {
					t.Fatalf("%s: JSON result %.100s", name, got.Result)
				}
			case AnswerText:
				var s string
				if err := json.Unmarshal(got.Result, &s); err != nil || s != string(body) {
					t.Fatalf("%s: text result does not decode to the body: %v", name, err)
				}
				want, _ := MarshalJSON(string(body))
				if !bytes.Equal(got.Result, want) {
					t.Fatalf("%s: escaped unlike encoding/json:\n%.200s\n%.200s", name, got.Result, want)
				}
			case AnswerBinary:
				if string(got.Result) != "null" || got.ResultBase64 == nil || got.ContentType == nil {
					t.Fatalf("%s: binary fields %.100s", name, out)
				}
				raw, err := base64.StdEncoding.DecodeString(*got.ResultBase64)
				if err != nil || !bytes.Equal(raw, body) {
					t.Fatalf("%s: base64 does not decode to the body: %v", name, err)
				}
				if wantCT := strings.TrimSpace(ct); (wantCT == "" && *got.ContentType != DefaultBinaryType) || (wantCT != "" && *got.ContentType != wantCT) {
					t.Fatalf("%s: content type %q", name, *got.ContentType)
				}
			default:
				t.Fatalf("%s: no answer", name)
			}
		}
	}
	if _, err := NewEnvelope([]int{1}, Answer{}); err == nil {
		t.Fatal("a head that is not an object was taken")
	}
	// An empty head has no comma before the result.
	env, _ := NewEnvelope(struct{}{}, Answer{})
	if got := string(env.Bytes()); got != `{"result":null}` || env.Len() != len(got) {
		t.Fatalf("empty head: %s (Len %d)", got, env.Len())
	}
}

func allBytes() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// TestWriteJSONStringMatchesEncodingJSON on random strings, valid UTF-8 or
// not: the same string once decoded (Go versions differ in whether a
// replaced invalid byte is written as \ufffd or as the character itself).
func TestWriteJSONStringMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "\"", "\\", "\n", "\x00", "\x1f", "\x7f", "<", "é", "日", "\u2028", "\u2029", "\xff", "\xe2\x80", "🙂"}
	for range 2000 {
		var sb strings.Builder
		for range rng.IntN(20) {
			sb.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		s := sb.String()
		var buf bytes.Buffer
		_ = writeJSONString(&buf, []byte(s))
		want, _ := MarshalJSON(s)
		var got, exp string
		if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
			t.Fatalf("%q: wrote %s, not a JSON string: %v", s, buf.Bytes(), err)
		}
		if err := json.Unmarshal(want, &exp); err != nil || got != exp {
			t.Fatalf("%q: wrote %s, encoding/json %s", s, buf.Bytes(), want)
		}
		if n := jsonStringLen([]byte(s)); n != buf.Len() {
			t.Fatalf("%q: jsonStringLen %d, wrote %d", s, n, buf.Len())
		}
	}
}

// TestEnvelopeWriteError: a failing writer ends the write with its error.
func TestEnvelopeWriteError(t *testing.T) {
	t.Parallel()
	env, _ := NewEnvelope(struct{}{}, AnswerOf(&store.Result{Body: bytes.Repeat([]byte{0xff}, 1<<20)}))
	boom := errors.New("boom")
	if _, err := env.WriteTo(failWriter{boom}); !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }
