package demo

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/agenthook/agenthook/signing"
)

func init() {
	caddy.RegisterModule(Sink{})
	httpcaddyfile.RegisterHandlerDirective("agenthook_demo_sink", func(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		d := new(Sink)
		return d, d.UnmarshalCaddyfile(h.Dispenser)
	})
	httpcaddyfile.RegisterDirectiveOrder("agenthook_demo_sink", httpcaddyfile.Before, "respond")
}

// Sink is a stand-in callback receiver for trying agenthook out, not for
// production. It keeps the last 100 POSTs and lists them on GET, newest
// first (GET /hooks/raw: those POSTed to /hooks/raw and below it), with
// their Standard Webhooks signature checked the way a receiver should:
//
//   - POST /secrets with a JSON object holding "secret" (the answer to a
//     registration through the management API is one) teaches it that
//     secret, as you would configure your own receiver with the secret
//     shown once; learned secrets are kept in a file under Caddy's data
//     directory, so they outlive a restart as the registration does;
//   - POST to a path under /down answers 503, to make deliveries fail;
//   - any other POST answers 204.
type Sink struct {
	// Secrets verify Standard Webhooks signatures: whsec_ secrets or whpk_
	// public keys, such as the secrets of the Caddyfile's callbacks that
	// point here.
	Secrets []string `json:"secrets,omitempty"`

	// secretsFile holds the secrets learned through POST /secrets; empty
	// means agenthook-demo-receiver-secrets.json in Caddy's data directory.
	secretsFile string
	book        *secretBook
	logger      *zap.Logger
}

// received is one POST, as GET lists it.
type received struct {
	ReceivedAt time.Time `json:"received_at"`
	Path       string    `json:"path"`
	WebhookID  string    `json:"webhook_id,omitempty"`
	// SignatureValid is absent when the POST carried no signature or the
	// receiver knows no secret to check it with.
	SignatureValid *bool           `json:"signature_valid,omitempty"`
	Authorization  string          `json:"authorization,omitempty"`
	Answered       int             `json:"answered"`
	Body           json.RawMessage `json:"body"`
}

// The list lives in the process, not in a Sink, so that it survives
// config reloads, as the deliveries it shows do.
var (
	receivedMu sync.Mutex
	receivedAt []received
)

const keepReceived = 100

// CaddyModule returns the Caddy module information.
func (Sink) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.agenthook_demo_sink",
		New: func() caddy.Module { return new(Sink) },
	}
}

// Provision resolves the secrets and loads the learned ones.
func (d *Sink) Provision(ctx caddy.Context) error {
	d.logger = ctx.Logger()
	repl := caddy.NewReplacer()
	for i, s := range d.Secrets {
		v, err := repl.ReplaceOrErr(s, true, true)
		if err != nil {
			return err
		}
		if _, err := signing.NewStandardWebhooks([]string{v}, 0); err != nil {
			return err
		}
		d.Secrets[i] = v
	}
	if d.secretsFile == "" {
		d.secretsFile = defaultSecretsFile()
	}
	var err error
	d.book, err = bookAt(d.secretsFile)
	return err
}

// UnmarshalCaddyfile sets up the sink. Syntax:
//
//	agenthook_demo_sink [<whsec_secret|whpk_key>...]
func (d *Sink) UnmarshalCaddyfile(disp *caddyfile.Dispenser) error {
	disp.Next()
	d.Secrets = disp.RemainingArgs()
	if disp.NextBlock(0) {
		return disp.Err("agenthook_demo_sink takes no block")
	}
	return nil
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (d *Sink) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	switch {
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		return d.list(w, r.URL.Path)
	case r.Method != http.MethodPost:
		w.Header().Set("Allow", "GET, POST")
		return caddyhttp.Error(http.StatusMethodNotAllowed, nil)
	case r.URL.Path == "/secrets":
		return d.learn(w, r)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return caddyhttp.Error(http.StatusBadRequest, err)
	}
	rec := received{ReceivedAt: time.Now().UTC(), Path: r.URL.Path, WebhookID: r.Header.Get("Webhook-Id"), Body: body, Answered: http.StatusNoContent}
	if !json.Valid(body) {
		rec.Body, _ = json.Marshal(string(body))
	}
	if user, _, ok := r.BasicAuth(); ok {
		rec.Authorization = "Basic " + user + ":***"
	}
	if r.Header.Get("Webhook-Signature") != "" {
		rec.SignatureValid = d.verify(r, body)
	}
	if r.URL.Path == "/down" || strings.HasPrefix(r.URL.Path, "/down/") {
		rec.Answered = http.StatusServiceUnavailable
	}
	receivedMu.Lock()
	receivedAt = append(receivedAt, rec)
	if len(receivedAt) > keepReceived {
		receivedAt = receivedAt[len(receivedAt)-keepReceived:]
	}
	receivedMu.Unlock()
	d.logger.Info("demo receiver got a callback", zap.String("path", rec.Path), zap.String("webhook_id", rec.WebhookID),
		zap.Any("signature_valid", rec.SignatureValid), zap.Int("answered", rec.Answered))
	if rec.Answered != http.StatusNoContent {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rec.Answered)
		_, err := io.WriteString(w, `{"error":"the demo receiver answers 503 on /down, to show failed deliveries"}`+"\n")
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// verify checks a delivery against the configured and learned secrets;
// nil when there is none to check with.
func (d *Sink) verify(r *http.Request, body []byte) *bool {
	secrets := append(append([]string(nil), d.Secrets...), d.book.secrets()...)
	if len(secrets) == 0 {
		return nil
	}
	v, err := signing.NewStandardWebhooks(secrets, 0)
	if err != nil {
		return nil
	}
	_, err = v.Verify(r, body, time.Now())
	valid := err == nil
	return &valid
}

// list answers the POSTs received on path and below it (all of them for
// "/"), newest first, indented for people reading them in a terminal.
func (d *Sink) list(w http.ResponseWriter, path string) error {
	prefix := strings.TrimSuffix(path, "/") + "/"
	receivedMu.Lock()
	list := make([]received, 0, len(receivedAt))
	for i := len(receivedAt) - 1; i >= 0; i-- {
		if p := receivedAt[i].Path; p == path || strings.HasPrefix(p, prefix) {
			list = append(list, receivedAt[i])
		}
	}
	receivedMu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{"received": list})
}

// learn takes {"secret": "whsec_..."} (any other fields, such as the rest
// of a registration answer, are ignored) and remembers the secret.
func (d *Sink) learn(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Secret string `json:"secret"`
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&in); err != nil || in.Secret == "" {
		w.WriteHeader(http.StatusBadRequest)
		_, err := io.WriteString(w, `{"error":"send a JSON object with \"secret\", such as the answer to a registration"}`+"\n")
		return err
	}
	if _, err := signing.NewStandardWebhooks([]string{in.Secret}, 0); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return json.NewEncoder(w).Encode(map[string]string{"error": "not a whsec_ secret or whpk_ key"})
	}
	n, err := d.book.add(in.Secret)
	if err != nil {
		d.logger.Error("demo receiver could not save a secret", zap.Error(err))
		return caddyhttp.Error(http.StatusInternalServerError, errors.New("saving the secret failed"))
	}
	return json.NewEncoder(w).Encode(map[string]int{"learned_secrets": n})
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Sink)(nil)
	_ caddyhttp.MiddlewareHandler = (*Sink)(nil)
	_ caddyfile.Unmarshaler       = (*Sink)(nil)
)
