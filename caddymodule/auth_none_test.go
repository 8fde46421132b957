package caddymodule

import (
	"net/http"
	"testing"
)

func TestAuthNone(t *testing.T) {
	t.Parallel()
	raw := mustAdaptAuthLine(t, "auth none")
	wantJSON(t, raw, `{"scheme": "none"}`)
	auth, strip, err := provisionAuth(t, false, raw)
	if err != nil || !auth.None || auth.Enabled() || len(strip) != 0 {
		t.Fatalf("auth %+v, strip %q, %v", auth, strip, err)
	}
	id, err := verifyWith(auth, http.Header{}, "{}")
	if err != nil || id.Line != "anonymous" {
		t.Fatalf("%+v, %v", id, err)
	}
	if _, err := adaptAuthLine("auth none please"); err == nil {
		t.Fatal("auth none took an argument")
	}
}
