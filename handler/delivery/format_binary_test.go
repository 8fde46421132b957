package delivery

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/agenthook/agenthook/store"
)

// TestRenderBinary: an answer that is not UTF-8 text reaches raw and
// Cognigy receivers as base64 with its content type, at 4/3 of its size,
// never as U+FFFD escapes.
func TestRenderBinary(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, body := range [][]byte{
		bytes.Repeat([]byte{0xff}, 3<<20),
		[]byte("text with a NUL \x00 and an escape \x1b"),
		{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'},
	} {
		r := &store.Result{StatusCode: 200, ContentType: "application/x-thing", Body: body}
		b, err := render(t, FormatRaw, payloadTask(), store.TaskSuccess, r, "", now)
		if err != nil {
			t.Fatal(err)
		}
		if !utf8.Valid(b) || len(b) > base64.StdEncoding.EncodedLen(len(body))+300 {
			t.Fatalf("raw payload of %d bytes for a %d-byte answer", len(b), len(body))
		}
		var p struct {
			Type         string          `json:"type"`
			Result       json.RawMessage `json:"result"`
			ResultBase64 string          `json:"result_base64"`
			ContentType  string          `json:"content_type"`
		}
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		got, err := base64.StdEncoding.DecodeString(p.ResultBase64)
		if err != nil || !bytes.Equal(got, body) || string(p.Result) != "null" || p.ContentType != "application/x-thing" || p.Type != EventTaskSucceeded {
			t.Fatalf("raw payload: result %s, type %q, base64 decodes: %v", p.Result, p.ContentType, err)
		}

		b, err = render(t, "cognigy", payloadTask(), store.TaskSuccess, r, "", now)
		if err != nil {
			t.Fatal(err)
		}
		var c struct {
			AIOutput struct {
				Text string            `json:"text"`
				Data map[string]string `json:"data"`
			} `json:"AIOutput"`
		}
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatal(err)
		}
		got, err = base64.StdEncoding.DecodeString(c.AIOutput.Data["result_base64"])
		if c.AIOutput.Text != "" || err != nil || !bytes.Equal(got, body) || c.AIOutput.Data["content_type"] != "application/x-thing" {
			t.Fatalf("cognigy payload: text %q, data keys %d, base64 decodes: %v", c.AIOutput.Text, len(c.AIOutput.Data), err)
		}
	}
}

// TestRenderNoHTMLEscapes: <, > and & stay one byte each in payloads; the
// escapes encoding/json adds by default would make them six.
func TestRenderNoHTMLEscapes(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	html := strings.Repeat("<a href=x>&</a>", 1000)
	for _, r := range []*store.Result{
		{StatusCode: 200, ContentType: "text/html", Body: []byte(html)},
		{StatusCode: 200, ContentType: "application/json", Body: []byte(`{"text":"` + html + `","data":{"h":"` + html + `"}}`)},
	} {
		for _, format := range []string{FormatRaw, "cognigy"} {
			b, err := render(t, format, payloadTask(), store.TaskSuccess, r, "", now)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(b, []byte(`\u003c`)) || len(b) > 2*len(r.Body)+400 {
				t.Fatalf("%s payload of %d bytes for %d, escaped: %.80s", format, len(b), len(r.Body), b)
			}
		}
	}
}
