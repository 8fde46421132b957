package caddymodule

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/agenthook/agenthook/signing"
)

// The fuzz targets feed arbitrary Caddyfile text to the unmarshalers. They
// must never panic, and what they accept must be coherent. Run one with
//
//	go test ./caddymodule/ -run '^$' -fuzz FuzzUnmarshalEndpoint -fuzztime 30s
//
// Seeds are below and in testdata/fuzz/<FuzzName>/.

// fuzzDispenser returns a dispenser over input, or false when the input
// does not tokenize: caddyfile.NewTestDispenser calls log.Fatalf on
// lexer errors, which would end the fuzzing process. Inputs with {$VAR}
// are skipped too, since the environment would be substituted.
func fuzzDispenser(input string) (*caddyfile.Dispenser, bool) {
	if len(input) > 1<<16 || strings.Contains(input, "{$") {
		return nil, false
	}
	if _, err := caddyfile.Tokenize([]byte(input), "Testfile"); err != nil {
		return nil, false
	}
	return caddyfile.NewTestDispenser(input), true
}

// checkAuthConfigs checks auth lines that an unmarshaler accepted.
func checkAuthConfigs(t *testing.T, auth []json.RawMessage) {
	t.Helper()
	for _, raw := range auth {
		var a struct {
			Scheme    string            `json:"scheme"`
			Secrets   []string          `json:"secrets"`
			Users     []BasicUserConfig `json:"users"`
			Tolerance int64             `json:"tolerance"`
		}
		if err := json.Unmarshal(raw, &a); err != nil {
			t.Fatalf("auth line %s: %v", raw, err)
		}
		switch a.Scheme {
		case "none", "basic", "hmac", "standard_webhooks", "github", "stripe":
		case "bearer":
			for _, s := range a.Secrets {
				if !signing.IsHashedToken(s) && !strings.Contains(s, "{") {
					t.Fatalf("bearer token %q was kept in plain text", s)
				}
			}
		default:
			t.Fatalf("accepted unknown auth scheme %q", a.Scheme)
		}
		if a.Scheme == "basic" && len(a.Users) == 0 {
			t.Fatal("accepted auth basic without users")
		}
		if a.Scheme != "none" && a.Scheme != "basic" && len(a.Secrets) == 0 {
			t.Fatalf("accepted auth %s without secrets", a.Scheme)
		}
		if a.Tolerance < 0 {
			t.Fatalf("accepted a negative tolerance %v", a.Tolerance)
		}
	}
}

// roundTrip marshals v, unmarshals it into fresh, and checks that the
// second marshaling is the same: the JSON twin holds every setting.
func roundTrip[T any](t *testing.T, v *T) {
	t.Helper()
	b1, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshaling an accepted config: %v", err)
	}
	fresh := new(T)
	if err := json.Unmarshal(b1, fresh); err != nil {
		t.Fatalf("unmarshaling %s: %v", b1, err)
	}
	b2, err := json.Marshal(fresh)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b1, b2) {
		t.Fatalf("JSON round trip changed the config:\n%s\n%s", b1, b2)
	}
}

var endpointSeeds = []string{
	"agenthook",
	"agenthook support",
	"agenthook support {\n\tauth none\n}",
	"agenthook support {\n\tauth none\n\tauth bearer x\n}",
	"agenthook {\n\tagent_from_token\n\tmode async\n}",
	"agenthook support {\n\tauth basic Realm {\n\t\talice $2a$14$Zkx19XLiW6VYouLHR5NmfOFU0z2GTNmpkT/5qqR7hx4IjWJPDhjvG\n\t}\n}",
	"agenthook support {\n\tauth bearer tok sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 {env.TOKEN}\n}",
	"agenthook support {\n\tauth hmac k1 k2 {\n\t\theader x-signature\n\t\talgorithm sha256\n\t\tencoding hex\n\t\tprefix \"\"\n\t}\n}",
	"agenthook support {\n\tauth standard_webhooks whsec_abc {\n\t\ttolerance 5m\n\t}\n\tauth stripe whsec_x {\n\t\ttolerance 300s\n\t}\n\tauth github gh\n}",
	"agenthook support {\n\tauth none\n\tmode sync\n\tformat cognigy\n\tchat_header x-chat-id\n\tcontinue_header X-Continue-Chat-Id\n\tmax_body 2MB\n\tchat_ttl 720h\n\ttimeout 2m\n\tsensitive\n\tname n\n}",
	"agenthook support {\n\tauth\n}",
	"agenthook support {\n\tauth basic {\n\t}\n}",
	"agenthook support {\n\tauth basic {\n\t\talice\n\t}\n}",
	"agenthook support {\n\tauth hmac k {\n\t\theader\n\t}\n}",
	"agenthook support {\n\tauth stripe s {\n\t\ttolerance\n\t}\n}",
	"agenthook support {\n\tmax_body\n}",
	"agenthook support {\n\tmax_body 18446744073709551615\n}",
	"agenthook support {\n\tauth none\n}\n}\n}",
	"agenthook support {\n\tauth hmac k {\n\t\t{\n\t}\n}",
	"agenthook {\n{\n}\n}",
	"agenthook support {\n\tauth basic {\n\t\talice h {\n\t\t}\n\t}\n}",
	"agenthook support {\n\tauth hmac k {\n\t\tprefix \"\"\n\t\tprefix \"\"\n\t}\n}",
	"}",
	"{",
	"",
}

func FuzzUnmarshalEndpoint(f *testing.F) {
	for _, s := range endpointSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, input string) {
		d, ok := fuzzDispenser(input)
		if !ok {
			return
		}
		var e Endpoint
		if err := e.UnmarshalCaddyfile(d); err != nil {
			return
		}
		if err := e.validate(); err != nil {
			t.Fatalf("UnmarshalCaddyfile accepted an endpoint that validate refuses: %v", err)
		}
		if len(e.Auth) == 0 && !e.AgentFromToken {
			t.Fatal("accepted an endpoint without auth")
		}
		if e.MaxBody < 0 || e.ChatTTL < 0 || e.Timeout < 0 {
			t.Fatalf("accepted negative values: %+v", e)
		}
		checkAuthConfigs(t, e.Auth)
		roundTrip(t, &e)
	})
}

var globalSeeds = []string{
	"agenthook",
	"agenthook {\n}",
	"agenthook {\n\tstorage badger\n\tworkers 4\n\tretention 72h\n\tgrace_period 5s\n}",
	"agenthook {\n\tstorage badger /var/lib/agenthook\n}",
	"agenthook {\n\tstorage postgres {env.DSN} {\n\t\tmax_conns 8\n\t}\n}",
	"agenthook {\n\tqueue {\n\t\tmax_depth 10\n\t\tattempts 3\n\t\tbackoff 1s\n\t\ttimeout 2m\n\t\tlease 3m\n\t\tmax_result 4MiB\n\t}\n}",
	"agenthook {\n\tdelivery {\n\t\ttimeout 15s\n\t\tretry_schedule 5s 5m 30m\n\t\tallow_networks 127.0.0.0/8 ::1\n\t\tconcurrency 4\n\t\tworkers 2\n\t\tdisable_after 120h\n\t\tbreaker 10 30s\n\t}\n}",
	"agenthook {\n\tdelivery {\n\t\tallow_networks 127.0.0.1:9002 127.0.0.0/8:9000-9099 [::1]:9002\n\t\tagent_workers 2\n\t\tmax_registrations unlimited\n\t\tmax_hops 3\n\t}\n}",
	"agenthook {\n\tagent support {\n\t\treverse_proxy 127.0.0.1:9001\n\t}\n}",
	"agenthook {\n\tagent support {\n\t\treverse_proxy 10.0.0.1:80 10.0.0.2:80 {\n\t\t\tlb_policy round_robin\n\t\t\thealth_uri /healthz\n\t\t\ttransport http {\n\t\t\t\tresponse_header_timeout 90s\n\t\t\t}\n\t\t}\n\t\tconversation_header X-Conversation-Id\n\t\twebhook_token lit sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 {env.T}\n\t}\n}",
	"agenthook {\n\tagent a {\n\t\treverse_proxy 127.0.0.1:1\n\t\tcallback https://hooks.example.com/cb {\n\t\t\tsign standard_webhooks whsec_abc whsk_def\n\t\t\tsign hmac s {\n\t\t\t\theader X-Sig\n\t\t\t\talgorithm sha512\n\t\t\t\tencoding base64\n\t\t\t\tprefix v1=\n\t\t\t}\n\t\t\tbasic_auth u p\n\t\t\theader X-A b\n\t\t\tformat cognigy\n\t\t\tmethod put\n\t\t\tordered\n\t\t\tconcurrency 2\n\t\t}\n\t}\n}",
	"agenthook {\n\tagent a {\n\t\treverse_proxy {\n\t\t\tdynamic a {\n\t\t\t\tname x\n\t\t\t}\n\t\t}\n\t}\n}",
	"agenthook {\n\tagent a {\n\t\treverse_proxy 127.0.0.1:1 {\n\t\t\t@e status 5xx\n\t\t\thandle_response @e {\n\t\t\t\trespond x\n\t\t\t}\n\t\t}\n\t}\n}",
	"agenthook {\n\tagent a {\n\t\treverse_proxy 127.0.0.1:1 {\n\t\t\t@e status 5xx\n\t\t\treplace_status @e 502\n\t\t}\n\t}\n}",
	"agenthook {\n\tagent a {\n\t\treverse_proxy\n\t}\n}",
	"agenthook {\n\tagent a {\n\t\treverse_proxy {\n\t\t}\n\t}\n}",
	"agenthook {\n\tagent a {\n\t\treverse_proxy 127.0.0.1:1 {\n\t\t\ttransport http {\n\t\t\t\ttls\n\t\t\t\tversions h2c 2\n\t\t\t}\n\t\t}\n\t}\n}",
	"agenthook {\n\tagent a {\n\t\treverse_proxy 127.0.0.1:1 {\n\t\t\ttransport fastcgi {\n\t\t\t\troot /srv\n\t\t\t}\n\t\t}\n\t}\n}",
	"agenthook {\n\tagent a {\n\t}\n}",
	"agenthook {\n\tagent\n}",
	"agenthook {\n\tdelivery {\n\t\tbreaker\n\t}\n}",
	"agenthook {\n\tdelivery {\n\t\tretry_schedule -1s\n\t}\n}",
	"agenthook {\n\tstorage\n}",
	"agenthook {\n\tstorage postgres\n}",
	"agenthook {\n\tagent a {\n\t\treverse_proxy 127.0.0.1:1\n\t\tcallback {env.URL} {\n\t\t\tsign\n\t\t}\n\t}\n}",
	"agenthook {\n\tagent a {\n\t\treverse_proxy 127.0.0.1:1\n\t\tcallback https://x {\n\t\t\tsign hmac s {\n\t\t\t\theader\n\t\t\t}\n\t\t}\n\t}\n}",
	"agenthook {\n\tagent a {\n\t\treverse_proxy 127.0.0.1:1 {\n\t}\n}",
	"agenthook {\n{\n}\n}",
	"agenthook x",
	"}",
	"",
}

func FuzzUnmarshalGlobal(f *testing.F) {
	for _, s := range globalSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, input string) {
		d, ok := fuzzDispenser(input)
		if !ok {
			return
		}
		var a App
		if err := a.UnmarshalCaddyfile(d); err != nil {
			return
		}
		if err := a.Validate(); err != nil {
			t.Fatalf("UnmarshalCaddyfile accepted an app that Validate refuses: %v", err)
		}
		if a.Workers < 0 || a.Retention < 0 || a.GracePeriod < 0 {
			t.Fatalf("accepted negative values: %+v", a)
		}
		if len(a.StorageRaw) > 0 {
			var s struct {
				Engine, Dir, DSN string
				MaxConns         int `json:"max_conns"`
			}
			if err := json.Unmarshal(a.StorageRaw, &s); err != nil {
				t.Fatalf("storage JSON %s: %v", a.StorageRaw, err)
			}
			switch s.Engine {
			case "badger":
				if s.DSN != "" || s.MaxConns != 0 {
					t.Fatalf("badger storage with postgres settings: %s", a.StorageRaw)
				}
			case "postgres":
				if s.DSN == "" {
					t.Fatalf("accepted storage postgres without a connection string: %s", a.StorageRaw)
				}
			case "memtest": // the third-party engine of storage_test.go
			default:
				t.Fatalf("accepted storage engine %q", s.Engine)
			}
		}
		if dc := a.Delivery; dc != nil {
			if err := dc.provision(); err != nil {
				t.Fatalf("accepted a delivery block that provisioning refuses: %v", err)
			}
		}
		for name, ag := range a.Agents {
			if !agentName.MatchString(name) {
				t.Fatalf("accepted agent name %q", name)
			}
			if ag == nil || len(ag.ReverseProxyRaw) == 0 {
				t.Fatalf("agent %q has no reverse_proxy", name)
			}
			var rp map[string]any
			if err := json.Unmarshal(ag.ReverseProxyRaw, &rp); err != nil || rp["handler"] != "reverse_proxy" {
				t.Fatalf("agent %q: reverse_proxy JSON %s: %v", name, ag.ReverseProxyRaw, err)
			}
			for _, tok := range ag.WebhookTokens {
				if !signing.IsHashedToken(tok) && !strings.Contains(tok, "{") {
					t.Fatalf("webhook token %q was kept in plain text", tok)
				}
			}
			for _, cb := range ag.Callbacks {
				if cb.URL == "" {
					t.Fatal("callback without URL")
				}
				if !strings.Contains(cb.URL, "{") {
					if err := checkCallbackURL(cb.URL); err != nil {
						t.Fatalf("accepted callback URL %q: %v", cb.URL, err)
					}
				}
				switch cb.Method {
				case "", "POST", "PUT":
				default:
					t.Fatalf("accepted callback method %q", cb.Method)
				}
				switch cb.Format {
				case "", "raw", "cognigy":
				default:
					t.Fatalf("accepted callback format %q", cb.Format)
				}
				if cb.StandardWebhooks != nil && len(cb.StandardWebhooks) == 0 {
					t.Fatal("sign standard_webhooks without secrets")
				}
			}
		}
		roundTrip(t, &a)
	})
}

var statusSeeds = []string{
	"agenthook_status",
	"agenthook_status {\n}",
	"agenthook_status {\n\tauth bearer tok {env.T}\n}",
	"agenthook_status {\n\tauth basic Ops {\n\t\tops $2a$14$Zkx19XLiW6VYouLHR5NmfOFU0z2GTNmpkT/5qqR7hx4IjWJPDhjvG\n\t}\n\tauth github s\n}",
	"agenthook_status {\n\tauth none\n}",
	"agenthook_status {\n\tauth\n}",
	"agenthook_status {\n\tauth hmac s {\n\t\theader X\n\t}\n}",
	"agenthook_status x",
	"agenthook_status {\n\tmode async\n}",
	"agenthook_status {\n{\n}\n}",
	"}",
	"",
}

func FuzzUnmarshalStatus(f *testing.F) {
	for _, s := range statusSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, input string) {
		d, ok := fuzzDispenser(input)
		if !ok {
			return
		}
		var s StatusHandler
		if err := s.UnmarshalCaddyfile(d); err != nil {
			return
		}
		if names, _ := authSchemesOf(s.Auth); slices.ContainsFunc(names, func(n string) bool {
			return n == "none" || n == "hmac" || n == "github" || n == "stripe" || n == "standard_webhooks"
		}) {
			t.Fatalf("accepted auth %q on agenthook_status", names)
		}
		checkAuthConfigs(t, s.Auth)
		roundTrip(t, &s)
	})
}
