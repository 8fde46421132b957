package api

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/handler/delivery"
	"github.com/agenthook/agenthook/handler/shape"
	"github.com/agenthook/agenthook/store"
)

// Bounds of registration options: a registration is the API caller's, and
// every delivery to it pays for what it holds.
const (
	maxHeaders       = 32
	maxScheduleSteps = 20
	maxScheduleStep  = 7 * 24 * time.Hour
	maxConcurrency   = 1000
	maxRateLimit     = 1000.0
	maxFilterLen     = 4096
	maxEndpointLen   = 200
	// DefaultGracePeriod is how long a rotated secret still signs.
	DefaultGracePeriod = 24 * time.Hour
	maxGracePeriod     = 30 * 24 * time.Hour
	// maxRetiredSecrets bounds the secrets kept through rotations in a row.
	maxRetiredSecrets = 5
)

// reservedHeaders are the headers a delivery sets itself; a registration
// may not set them (agenthook's own would win anyway, and a caller who
// tries is surprised later).
var reservedHeaders = []string{"Content-Type", "Content-Length", "Host", "User-Agent", "Connection", "Transfer-Encoding",
	"Te", "Trailer", "Upgrade", "Keep-Alive", "Proxy-Connection", "Webhook-Id", "Webhook-Timestamp", "Webhook-Signature"}

// basicAuthInput is basic_auth in a request.
type basicAuthInput struct {
	Username *string `json:"username"`
	Password *string `json:"password"`
}

// hmacInput is hmac in a request; a PATCH that leaves secret out keeps
// the one the registration has.
type hmacInput struct {
	Secret    *string `json:"secret"`
	Header    string  `json:"header"`
	Algorithm string  `json:"algorithm"`
	Encoding  string  `json:"encoding"`
	Prefix    string  `json:"prefix"`
}

// raw decodes a field given as json.RawMessage: absent (nil) leaves v
// alone and reports false, null reports true with v unset (the caller
// clears the option), and anything else decodes into v, strictly.
func raw(name string, msg json.RawMessage, v any, kind string) (set, null bool, err error) {
	if msg == nil {
		return false, false, nil
	}
	if string(bytes.TrimSpace(msg)) == "null" {
		return true, true, nil
	}
	dec := json.NewDecoder(bytes.NewReader(msg))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if u := jsonProblem(err); strings.HasPrefix(u, "unknown field ") {
			return true, false, badRequest("%s: %s", name, u)
		}
		return true, false, badRequest("field %s must be %s", name, kind)
	}
	return true, false, nil
}

func badRequest(format string, args ...any) error {
	return handler.Errorf(http.StatusBadRequest, handler.CodeBadRequest, format, args...)
}

// applyOptions validates the options of a request onto a registration.
// It returns the secrets agenthook generated, to show once.
func (a *API) applyOptions(in webhookInput, reg *store.Registration) (generatedHMAC string, err error) {
	o := &reg.Options
	var events []string
	if set, null, err := raw("events", in.Events, &events, "an array of event type names"); err != nil {
		return "", err
	} else if set {
		if null {
			o.Events = nil
		} else {
			if err := delivery.CheckEvents(events); err != nil {
				return "", badRequest("events: %s", err.Error())
			}
			o.Events = slices.Compact(events)
		}
	}
	if in.Filter != nil {
		f := strings.TrimSpace(*in.Filter)
		if len(f) > maxFilterLen {
			return "", badRequest("filter is longer than %d bytes", maxFilterLen)
		}
		if f != "" {
			if _, err := shape.Compile(shape.Filter, f, shape.Limits{}); err != nil {
				return "", badRequest("filter: %s", err.Error())
			}
		}
		o.Filter = f
	}
	if in.Endpoint != nil {
		if len(*in.Endpoint) > maxEndpointLen || strings.ContainsAny(*in.Endpoint, "\x00\r\n") {
			return "", badRequest("endpoint must be an endpoint's name, at most %d bytes", maxEndpointLen)
		}
		if *in.Endpoint != "" && a.EndpointExists != nil && !a.EndpointExists(*in.Endpoint) {
			return "", badRequest("endpoint %q: no agenthook handler has that name", *in.Endpoint)
		}
		o.Endpoint = *in.Endpoint
	}
	if in.Headers != nil {
		h, err := checkHeaders(*in.Headers)
		if err != nil {
			return "", err
		}
		o.Headers = h
	}
	var basic basicAuthInput
	if set, null, err := raw("basic_auth", in.BasicAuth, &basic, `an object {"username", "password"}`); err != nil {
		return "", err
	} else if set {
		if null {
			o.BasicAuth = nil
		} else {
			if basic.Username == nil || *basic.Username == "" || strings.ContainsAny(*basic.Username, ":\x00\r\n") {
				return "", badRequest("basic_auth needs a username without ':'")
			}
			if basic.Password == nil || strings.ContainsAny(*basic.Password, "\x00\r\n") {
				return "", badRequest("basic_auth needs a password")
			}
			o.BasicAuth = &store.BasicCredentials{Username: *basic.Username, Password: *basic.Password}
		}
	}
	var hm hmacInput
	if set, null, err := raw("hmac", in.HMAC, &hm, `an object {"secret", "header", "algorithm", "encoding", "prefix"}`); err != nil {
		return "", err
	} else if set {
		if null {
			o.HMAC = nil
		} else {
			next := &store.HMACSettings{Header: hm.Header, Algorithm: hm.Algorithm, Encoding: hm.Encoding, Prefix: hm.Prefix}
			switch {
			case hm.Secret != nil && *hm.Secret != "":
				next.Secret = *hm.Secret
			case o.HMAC != nil && hm.Secret == nil:
				next.Secret = o.HMAC.Secret // a PATCH of the other settings
			default:
				if next.Secret, err = newHMACSecret(); err != nil {
					return "", err
				}
				generatedHMAC = next.Secret
			}
			o.HMAC = next
		}
	}
	if in.Concurrency != nil {
		if *in.Concurrency < 0 || *in.Concurrency > maxConcurrency {
			return "", badRequest("concurrency must be between 1 and %d (0: the configured default)", maxConcurrency)
		}
		o.Concurrency = *in.Concurrency
	}
	var schedule []string
	if set, null, err := raw("retry_schedule", in.RetrySchedule, &schedule, `an array of durations such as "5s" or "10m"`); err != nil {
		return "", err
	} else if set {
		if null {
			o.RetrySchedule = nil
		} else {
			if len(schedule) > maxScheduleSteps {
				return "", badRequest("retry_schedule has more than %d steps", maxScheduleSteps)
			}
			steps := make([]time.Duration, 0, len(schedule))
			for i, s := range schedule {
				d, err := time.ParseDuration(s)
				if err != nil || d <= 0 || d > maxScheduleStep {
					return "", badRequest("retry_schedule step %d: use a positive duration up to 168h, such as \"5s\" or \"10m\"", i+1)
				}
				steps = append(steps, d)
			}
			o.RetrySchedule = steps
		}
	}
	var timeout string
	if set, null, err := raw("timeout", in.Timeout, &timeout, `a duration such as "10s"`); err != nil {
		return "", err
	} else if set {
		if null || timeout == "" {
			o.Timeout = 0
		} else {
			d, err := time.ParseDuration(timeout)
			max := a.maxTimeout()
			if err != nil || d <= 0 || d > max {
				return "", badRequest("timeout must be a positive duration up to the configured delivery timeout (%s)", max)
			}
			o.Timeout = d
		}
	}
	if in.RateLimit != nil {
		if *in.RateLimit < 0 || *in.RateLimit > maxRateLimit {
			return "", badRequest("rate_limit must be between 0 (none) and %g deliveries per second", maxRateLimit)
		}
		o.RateLimit = *in.RateLimit
	}
	return generatedHMAC, nil
}

func (a *API) maxTimeout() time.Duration {
	if a.MaxTimeout > 0 {
		return a.MaxTimeout
	}
	return delivery.DefaultTimeout
}

// checkHeaders validates headers to add to deliveries. Names are shown in
// errors; values never are.
func checkHeaders(in map[string]string) (http.Header, error) {
	if len(in) > maxHeaders {
		return nil, badRequest("headers: at most %d", maxHeaders)
	}
	if len(in) == 0 {
		return nil, nil
	}
	h := make(http.Header, len(in))
	for name, value := range in {
		if !validHeaderName(name) {
			return nil, badRequest("headers: %q is not a header name", name)
		}
		canon := http.CanonicalHeaderKey(name)
		if slices.Contains(reservedHeaders, canon) || strings.HasPrefix(canon, "X-Agenthook-") {
			return nil, badRequest("headers: %s is set by agenthook itself", canon)
		}
		if canon == "Authorization" {
			return nil, badRequest("headers: use basic_auth for Authorization, or a header of the receiver's own")
		}
		if !validHeaderValue(value) {
			return nil, badRequest("headers: the value of %s is not a valid header value", canon)
		}
		h.Set(canon, value)
	}
	return h, nil
}

// newHMACSecret makes an HMAC key as `caddy agenthook keygen` does: 32
// random bytes as 64 hex characters, used as they are.
func newHMACSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating a secret: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// validHeaderName reports whether name is an RFC 9110 token.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// validHeaderValue refuses control characters other than tab.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
