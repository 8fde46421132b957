package caddymodule

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// errMarker marks, in an error case's Caddyfile, the line that the error
// must name (as "Caddyfile:<line>"). It is a Caddyfile comment.
const errMarker = "# <- error"

// adaptErrorCase is a Caddyfile that `caddy adapt` must refuse.
type adaptErrorCase struct {
	name      string
	caddyfile string
	// want is a substring of the error message.
	want string
	// secrets must not appear in the error message.
	secrets []string
}

// globalCase wraps agenthook global option lines (and one working site).
func globalCase(name, body, want string, secrets ...string) adaptErrorCase {
	return adaptErrorCase{name: name, want: want, secrets: secrets, caddyfile: `{
	agenthook {
` + body + `
	}
}

:8080 {
	respond "hello"
}
`}
}

// agentCase wraps lines of an agent block.
func agentCase(name, body, want string, secrets ...string) adaptErrorCase {
	return globalCase(name, `		agent support {
			reverse_proxy 127.0.0.1:9001
`+body+`
		}`, want, secrets...)
}

// callbackCase wraps lines of a callback block.
func callbackCase(name, body, want string, secrets ...string) adaptErrorCase {
	return agentCase(name, `			callback https://hooks.example.com/cb {
`+body+`
			}`, want, secrets...)
}

// endpointCase wraps lines of an agenthook handler block.
func endpointCase(name, body, want string, secrets ...string) adaptErrorCase {
	return adaptErrorCase{name: name, want: want, secrets: secrets, caddyfile: `{
	agenthook {
		agent support {
			reverse_proxy 127.0.0.1:9001
		}
	}
}

:8080 {
	agenthook /hook support {
` + body + `
	}
}
`}
}

// statusCase wraps lines of an agenthook_status handler block.
func statusCase(name, body, want string, secrets ...string) adaptErrorCase {
	return adaptErrorCase{name: name, want: want, secrets: secrets, caddyfile: `:8080 {
	agenthook_status /status {
` + body + `
	}
}
`}
}

// apiCase wraps lines of an agenthook_api handler block.
func apiCase(name, body, want string, secrets ...string) adaptErrorCase {
	return adaptErrorCase{name: name, want: want, secrets: secrets, caddyfile: `:8080 {
	agenthook_api {
` + body + `
	}
}
`}
}

func adaptErrorCases() []adaptErrorCase {
	m := errMarker
	cases := []adaptErrorCase{
		// API keys with scopes.
		apiCase("api bearer unknown option", `		bearer key-secret-1 {
			agent support `+m+`
		}`, "unrecognized bearer option 'agent'", "key-secret-1"),
		apiCase("api bearer agents without names", `		bearer key-secret-1 {
			agents `+m+`
		}`, "agents needs at least one agent name", "key-secret-1"),
		apiCase("api bearer agents twice", `		bearer key-secret-1 {
			agents support
			agents billing `+m+`
		}`, "agents already specified", "key-secret-1"),
		apiCase("api bearer read_only with an argument", `		bearer key-secret-1 {
			read_only yes `+m+`
		}`, "wrong argument count", "key-secret-1"),
		apiCase("api bearer read_only twice", `		bearer key-secret-1 {
			read_only
			read_only `+m+`
		}`, "read_only already specified", "key-secret-1"),
		globalCase("delivery response_excerpt too large", `		delivery {
			response_excerpt 1MiB `+m+`
		}`, "response_excerpt must be at most 64 KiB"),
		globalCase("delivery response_excerpt not a size", `		delivery {
			response_excerpt lots `+m+`
		}`, "'lots' is not a size"),
		// Unknown subdirectives.
		globalCase("unknown global option", `		bogus 1 `+m, "unrecognized agenthook option 'bogus'"),
		agentCase("unknown agent option", `			upstream 127.0.0.1 `+m, "unrecognized agent option 'upstream'"),
		callbackCase("unknown callback option", `				retries 3 `+m, "unrecognized callback option 'retries'"),
		endpointCase("unknown endpoint option", `		auth none
		agent other `+m, "unrecognized agenthook option 'agent'"),
		statusCase("unknown status option", `		mode async `+m, "unrecognized agenthook_status option 'mode'"),
		statusCase("status max_readers zero", `		max_readers 0 `+m, "'0' is not a positive integer"),
		statusCase("status max_readers twice", `		max_readers 4
		max_readers 5 `+m, "max_readers already specified"),
		statusCase("status write_timeout bad", `		write_timeout soon `+m, "'soon' is not a positive duration"),
		globalCase("unknown queue option", `		queue {
			depth 5 `+m+`
		}`, "unrecognized queue option 'depth'"),
		globalCase("unknown delivery option", `		delivery {
			retries 5 `+m+`
		}`, "unrecognized delivery option 'retries'"),
		globalCase("unknown storage postgres option", `		storage postgres {env.DSN} {
			pool 5 `+m+`
		}`, "unrecognized storage postgres option 'pool'"),
		globalCase("unknown storage engine", `		storage redis localhost `+m, `unknown storage engine "redis": no module agenthook.storage.redis`),
		globalCase("storage without its engine", `		storage postgres://agenthook:pg-pass-4242@db/agenthook `+m, "unknown storage engine", "pg-pass-4242"),
		callbackCase("unknown hmac sign option", `				sign hmac k {
					digest sha256 `+m+`
				}`, "unrecognized hmac option 'digest'"),
		callbackCase("unknown signature", `				sign jwt k `+m, "unknown signature 'jwt'"),
		endpointCase("unknown hmac auth option", `		auth hmac k {
			tolerance 5m `+m+`
		}`, "unrecognized hmac option 'tolerance'"),
		endpointCase("unknown standard_webhooks auth option", `		auth standard_webhooks whsec_abc {
			header x `+m+`
		}`, "unrecognized auth standard_webhooks option 'header'"),
		endpointCase("unknown stripe auth option", `		auth stripe whsec_abc {
			prefix v1= `+m+`
		}`, "unrecognized auth stripe option 'prefix'"),

		// Settings given twice.
		globalCase("duplicate storage", `		storage badger
		storage badger /tmp/x `+m, "storage already specified"),
		globalCase("duplicate workers", `		workers 4
		workers 8 `+m, "workers already specified"),
		globalCase("duplicate retention", `		retention 1h
		retention 2h `+m, "retention already specified"),
		globalCase("duplicate grace_period", `		grace_period 1s
		grace_period 2s `+m, "grace_period already specified"),
		globalCase("duplicate queue", `		queue {
			attempts 2
		}
		queue { `+m+`
			attempts 3
		}`, "queue already specified"),
		globalCase("duplicate delivery", `		delivery {
			timeout 5s
		}
		delivery { `+m+`
			timeout 6s
		}`, "delivery already specified"),
		globalCase("duplicate queue setting", `		queue {
			attempts 2
			attempts 3 `+m+`
		}`, "attempts already specified"),
		globalCase("duplicate max_result", `		queue {
			max_result 1MB
			max_result 2MB `+m+`
		}`, "max_result already specified"),
		globalCase("duplicate delivery timeout", `		delivery {
			timeout 5s
			timeout 6s `+m+`
		}`, "timeout already specified"),
		globalCase("duplicate delivery workers", `		delivery {
			workers 2
			workers 3 `+m+`
		}`, "workers already specified"),
		globalCase("duplicate retry_schedule", `		delivery {
			retry_schedule 1s 2s
			retry_schedule 3s `+m+`
		}`, "retry_schedule already specified"),
		globalCase("duplicate breaker", `		delivery {
			breaker 5 10s
			breaker 6 10s `+m+`
		}`, "breaker already specified"),
		globalCase("duplicate max_conns", `		storage postgres {env.DSN} {
			max_conns 2
			max_conns 3 `+m+`
		}`, "max_conns already specified"),
		globalCase("duplicate agent name", `		agent support {
			reverse_proxy 127.0.0.1:9001
		}
		agent support { `+m+`
			reverse_proxy 127.0.0.1:9002
		}`, "agent support already declared"),
		agentCase("duplicate conversation_header", `			conversation_header X-A
			conversation_header X-B `+m, "conversation_header already specified"),
		agentCase("duplicate reverse_proxy", `			reverse_proxy 127.0.0.1:9002 `+m, "reverse_proxy already specified"),
		callbackCase("duplicate sign hmac", `				sign hmac k1
				sign hmac k2 `+m, "sign hmac already specified", "k2"),
		callbackCase("duplicate sign standard_webhooks", `				sign standard_webhooks whsec_a
				sign standard_webhooks whsec_b `+m, "sign standard_webhooks already specified"),
		callbackCase("duplicate basic_auth", `				basic_auth u p4ssw0rd-one
				basic_auth u p4ssw0rd-two `+m, "basic_auth already specified", "p4ssw0rd-one", "p4ssw0rd-two"),
		callbackCase("duplicate ordered", `				ordered
				ordered `+m, "ordered already specified"),
		callbackCase("duplicate callback format", `				format raw
				format cognigy `+m, "format already specified"),
		callbackCase("duplicate method", `				method POST
				method PUT `+m, "method already specified"),
		callbackCase("duplicate callback concurrency", `				concurrency 1
				concurrency 2 `+m, "concurrency already specified"),
		callbackCase("duplicate hmac sign option", `				sign hmac k {
					header X-A
					header X-B `+m+`
				}`, "header already specified"),
		endpointCase("duplicate mode", `		auth none
		mode sync
		mode async `+m, "mode already specified"),
		endpointCase("duplicate format", `		auth none
		format raw
		format raw `+m, "format already specified"),
		endpointCase("duplicate max_body", `		auth none
		max_body 1MB
		max_body 2MB `+m, "max_body already specified"),
		endpointCase("duplicate chat_header", `		auth none
		chat_header x-a
		chat_header x-b `+m, "chat_header already specified"),
		endpointCase("duplicate continue_header", `		auth none
		continue_header x-a
		continue_header x-b `+m, "continue_header already specified"),
		endpointCase("duplicate chat_ttl", `		auth none
		chat_ttl 1h
		chat_ttl 2h `+m, "chat_ttl already specified"),
		endpointCase("duplicate timeout", `		auth none
		timeout 1m
		timeout 2m `+m, "timeout already specified"),
		endpointCase("duplicate sensitive", `		auth none
		sensitive
		sensitive `+m, "sensitive already specified"),
		endpointCase("duplicate name", `		auth none
		name a
		name b `+m, "name already specified"),
		endpointCase("duplicate basic user", `		auth basic {
			alice $2a$14$Zkx19XLiW6VYouLHR5NmfOFU0z2GTNmpkT/5qqR7hx4IjWJPDhjvG
			alice $2a$14$Zkx19XLiW6VYouLHR5NmfOFU0z2GTNmpkT/5qqR7hx4IjWJPDhjvG `+m+`
		}`, "basic user alice already specified", "$2a$14$Zkx19XLiW6VYouLHR5NmfOFU0z2GTNmpkT/5qqR7hx4IjWJPDhjvG"),
		endpointCase("duplicate tolerance", `		auth stripe whsec_x {
			tolerance 1m
			tolerance 2m `+m+`
		}`, "tolerance already specified"),
		endpointCase("duplicate hmac auth option", `		auth hmac k {
			encoding hex
			encoding base64 `+m+`
		}`, "encoding already specified"),
		{
			name: "duplicate agent_from_token",
			caddyfile: `:8080 {
	agenthook {
		agent_from_token
		agent_from_token ` + m + `
	}
}
`,
			want: "agent_from_token already specified",
		},
		{
			name: "agenthook global option twice",
			caddyfile: `{
	agenthook {
		workers 2
	}
	agenthook { ` + m + `
		workers 3
	}
}
`,
			want: "the agenthook global option is given twice",
		},

		// Auth.
		{
			name: "endpoint without auth",
			caddyfile: `:8080 {
	agenthook /hook support { ` + m + `
		mode async
	}
}
`,
			want: "needs auth: add an auth line, or `auth none` to accept anyone",
		},
		{
			name: "endpoint without auth or block",
			caddyfile: `:8080 {
	agenthook /hook support ` + m + `
}
`,
			want: "`auth none`",
		},
		{
			name: "auth none combined with bearer",
			caddyfile: `:8080 {
	agenthook /hook support { ` + m + `
		auth none
		auth bearer tok-combined-with-none
	}
}
`,
			want:    "auth none cannot be combined with other auth lines",
			secrets: []string{"tok-combined-with-none"},
		},
		endpointCase("malformed sha256 bearer token", `		auth bearer sha256:0123abcd `+m, "64 hex digits"),
		agentCase("malformed sha256 webhook_token", `			webhook_token sha256:not-hex `+m, "64 hex digits"),
		globalCase("storage postgres with an unquoted key/value DSN", `		storage postgres host=db password=pg-secret-6767 `+m,
			"storage postgres", "pg-secret-6767"),
		endpointCase("empty bearer token", `		auth bearer "" `+m, "empty"),
		agentCase("empty webhook_token", `			webhook_token "" `+m, "empty"),
		endpointCase("unknown auth scheme", `		auth oauth2 client-secret-xyz `+m, "unknown auth scheme 'oauth2': use one of basic, bearer, github, hmac, none", "client-secret-xyz"),
		endpointCase("auth without scheme", `		auth `+m, "auth needs a scheme"),
		endpointCase("auth none with argument", `		auth none please `+m, "wrong argument count"),
		endpointCase("auth bearer without token", `		auth bearer `+m, "auth bearer needs at least one token"),
		endpointCase("auth hmac without secret", `		auth hmac { `+m+`
			header x-sig
		}`, "auth hmac needs at least one secret"),
		endpointCase("auth github without secret", `		auth github `+m, "auth github needs at least one secret"),
		endpointCase("auth basic without users", `		auth basic Realm `+m, "auth basic needs at least one user"),
		endpointCase("auth basic too many args", `		auth basic Realm extra `+m+` {
			alice hash
		}`, "wrong argument count"),
		endpointCase("basic user without hash", `		auth basic {
			alice `+m+`
		}`, "basic user alice needs a bcrypt or argon2id hash (make one with `caddy hash-password`)"),
		endpointCase("basic user with two hashes", `		auth basic {
			alice h1 h2 `+m+`
		}`, "basic user alice needs a bcrypt or argon2id hash (make one with `caddy hash-password`)", "h2"),
		endpointCase("empty hmac header", `		auth hmac k {
			header "" `+m+`
		}`, "header must not be empty"),
		endpointCase("hmac option without value", `		auth hmac k {
			algorithm `+m+`
		}`, "wrong argument count"),
		statusCase("status with auth none", `		auth none `+m, "auth none is the default here"),
		{
			name: "status with an argument",
			caddyfile: `:8080 {
	agenthook_status /status extra ` + m + `
}
`,
			want: "wrong argument count",
		},

		// Endpoint agent selection and values.
		{
			name: "agent and agent_from_token",
			caddyfile: `:8080 {
	agenthook /hook support { ` + m + `
		agent_from_token
	}
}
`,
			want: "give either an agent name or agent_from_token, not both",
		},
		{
			name: "no agent",
			caddyfile: `:8080 {
	agenthook /hook { ` + m + `
		auth none
	}
}
`,
			want: "needs an agent name (or agent_from_token)",
		},
		{
			name: "too many endpoint args",
			caddyfile: `:8080 {
	agenthook /hook support other { ` + m + `
		auth none
	}
}
`,
			want: "wrong argument count",
		},
		endpointCase("bad mode", `		auth none
		mode batch `+m, "mode must be sync or async"),
		endpointCase("mode without value", `		auth none
		mode `+m, "mode must be sync or async"),
		endpointCase("bad format", `		auth none
		format xml `+m, "format must be raw or cognigy"),
		endpointCase("chat_header without value", `		auth none
		chat_header `+m, "chat_header needs one non-empty value"),
		endpointCase("chat_header two values", `		auth none
		chat_header a b `+m, "chat_header needs one non-empty value"),
		endpointCase("sensitive with argument", `		auth none
		sensitive yes `+m, "wrong argument count"),
		endpointCase("agent_from_token with argument", `		agent_from_token yes `+m, "wrong argument count"),

		// Bad durations, sizes and integers.
		globalCase("duration without unit", `		retention 5 `+m, "'5' is not a positive duration"),
		globalCase("negative duration", `		retention -1h `+m, "'-1h' is not a positive duration"),
		globalCase("zero duration", `		grace_period 0s `+m, "'0s' is not a positive duration"),
		globalCase("duration missing", `		retention `+m, "wrong argument count"),
		globalCase("bad queue duration", `		queue {
			backoff soon `+m+`
		}`, "'soon' is not a positive duration"),
		globalCase("bad retry_schedule entry", `		delivery {
			retry_schedule 5s later 1h `+m+`
		}`, "retry_schedule: invalid duration 'later'"),
		globalCase("empty retry_schedule", `		delivery {
			retry_schedule `+m+`
		}`, "wrong argument count"),
		globalCase("breaker without cooldown", `		delivery {
			breaker 5 `+m+`
		}`, "wrong argument count"),
		globalCase("breaker bad cooldown", `		delivery {
			breaker 5 never `+m+`
		}`, "'never' is not a positive duration"),
		globalCase("bad allow_networks", `		delivery {
			allow_networks 10.0.0.0/8 intranet `+m+`
		}`, `allow_networks: "intranet" is not a CIDR range or an IP address`),
		globalCase("empty allow_networks", `		delivery {
			allow_networks `+m+`
		}`, "wrong argument count"),
		globalCase("allow_networks port out of range", `		delivery {
			allow_networks 127.0.0.1:70000 `+m+`
		}`, `allow_networks: "127.0.0.1:70000": port "70000" is not a number from 1 to 65535`),
		globalCase("allow_networks port range backwards", `		delivery {
			allow_networks 127.0.0.0/8:9099-9000 `+m+`
		}`, "the port range 9099-9000 runs backwards"),
		globalCase("allow_networks IPv6 port without brackets", `		delivery {
			allow_networks fd00::/8:9002 `+m+`
		}`, `"fd00::/8:9002" is not a CIDR range or an IP address, with an optional :port or :low-high (an IPv6 one in brackets, as [::1]:9002)`),
		globalCase("allow_networks bracketed IPv4", `		delivery {
			allow_networks [127.0.0.1]:9002 `+m+`
		}`, "an IPv6 one in brackets"),
		globalCase("bad max_registrations", `		delivery {
			max_registrations lots `+m+`
		}`, "'lots' is not a positive integer"),
		globalCase("zero max_hops", `		delivery {
			max_hops 0 `+m+`
		}`, "'0' is not a positive integer"),
		globalCase("bad agent_workers", `		delivery {
			agent_workers -1 `+m+`
		}`, "'-1' is not a positive integer"),
		endpointCase("bad chat_ttl", `		auth none
		chat_ttl forever `+m, "'forever' is not a positive duration"),
		endpointCase("bad timeout", `		auth none
		timeout -5s `+m, "'-5s' is not a positive duration"),
		endpointCase("bad tolerance", `		auth standard_webhooks whsec_x {
			tolerance 5 `+m+`
		}`, "'5' is not a positive duration"),
		endpointCase("bad max_body", `		auth none
		max_body lots `+m, "'lots' is not a size such as 1MB or 512KiB"),
		endpointCase("zero max_body", `		auth none
		max_body 0 `+m, "'0' is not a size"),
		endpointCase("huge max_body", `		auth none
		max_body 2TiB `+m, "'2TiB' is not a size"),
		endpointCase("negative max_body", `		auth none
		max_body -1MB `+m, "'-1MB' is not a size"),
		globalCase("bad max_result", `		queue {
			max_result 2XB `+m+`
		}`, "'2XB' is not a size"),
		globalCase("zero workers", `		workers 0 `+m, "'0' is not a positive integer"),
		globalCase("negative workers", `		workers -4 `+m, "'-4' is not a positive integer"),
		globalCase("non-numeric workers", `		workers many `+m, "'many' is not a positive integer"),
		globalCase("workers without value", `		workers `+m, "wrong argument count"),
		globalCase("bad max_depth", `		queue {
			max_depth 1e6 `+m+`
		}`, "'1e6' is not a positive integer"),
		globalCase("bad max_conns", `		storage postgres {env.DSN} {
			max_conns 0 `+m+`
		}`, "'0' is not a positive integer"),
		callbackCase("bad callback concurrency", `				concurrency none `+m, "'none' is not a positive integer"),
		globalCase("bad delivery workers", `		delivery {
			workers 0 `+m+`
		}`, "'0' is not a positive integer"),
		globalCase("bad delivery concurrency", `		delivery {
			concurrency -1 `+m+`
		}`, "'-1' is not a positive integer"),

		// Storage lines.
		globalCase("storage without engine", `		storage `+m, "wrong argument count"),
		globalCase("storage badger extra arg", `		storage badger /a /b `+m, "wrong argument count"),
		globalCase("storage badger with an unknown option", `		storage badger /a {
			max_conns 2 `+m+`
		}`, `storage badger: unknown option "max_conns" (known: gomaxprocs)`),
		globalCase("storage badger gomaxprocs without value", `		storage badger /a {
			gomaxprocs `+m+`
		}`, "wrong argument count"),
		globalCase("storage badger gomaxprocs zero", `		storage badger /a {
			gomaxprocs 0 `+m+`
		}`, `gomaxprocs: want auto, off or a number from 1 to 1024, not "0"`),
		globalCase("storage badger gomaxprocs word", `		storage badger /a {
			gomaxprocs many `+m+`
		}`, `gomaxprocs: want auto, off or a number from 1 to 1024, not "many"`),
		globalCase("storage badger gomaxprocs two values", `		storage badger /a {
			gomaxprocs 4 8 `+m+`
		}`, "wrong argument count"),
		globalCase("storage postgres without dsn", `		storage postgres `+m, "storage postgres needs a connection string"),
		globalCase("storage postgres with an empty DSN", `		storage postgres "" `+m, "storage postgres needs a connection string"),
		globalCase("storage postgres extra arg", `		storage postgres dsn1 dsn2 `+m, "takes one connection string", "dsn1", "dsn2"),
		{
			name: "global option with argument",
			caddyfile: `{
	agenthook badger { ` + m + `
	}
}
`,
			want: "wrong argument count",
		},

		// Agents.
		globalCase("agent name with a slash", `		agent sup/port { `+m+`
			reverse_proxy 127.0.0.1:9001
		}`, `agent name "sup/port"`),
		globalCase("agent name starting with a dash", `		agent -support { `+m+`
			reverse_proxy 127.0.0.1:9001
		}`, `agent name "-support": use letters, digits`),
		globalCase("agent name with a space", `		agent "sup port" { `+m+`
			reverse_proxy 127.0.0.1:9001
		}`, `agent name "sup port"`),
		globalCase("agent name too long", `		agent `+strings.Repeat("a", 65)+` { `+m+`
			reverse_proxy 127.0.0.1:9001
		}`, "(at most 64)"),
		globalCase("agent name placeholder", `		agent {env.AGENT} { `+m+`
			reverse_proxy 127.0.0.1:9001
		}`, `agent name "{env.AGENT}"`),
		globalCase("agent without name", `		agent { `+m+`
			reverse_proxy 127.0.0.1:9001
		}`, "wrong argument count"),
		globalCase("agent with two names", `		agent a b { `+m+`
			reverse_proxy 127.0.0.1:9001
		}`, "wrong argument count"),
		globalCase("agent without reverse_proxy", `		agent support {
			conversation_header X-C
		} `+m, "an agent needs a reverse_proxy to its backend"),
		globalCase("agent without block", `		agent support `+m, "an agent needs a reverse_proxy to its backend"),
		agentCase("webhook_token without value", `			webhook_token `+m, "wrong argument count"),
		agentCase("conversation_header without value", `			conversation_header `+m, "conversation_header needs one header name"),
		globalCase("reverse_proxy without upstream", `		agent support {
			reverse_proxy { `+m+`
				lb_policy first
			}
		}`, "reverse_proxy needs at least one upstream"),
		globalCase("handle_response inside reverse_proxy", `		agent support {
			reverse_proxy 127.0.0.1:9001 {
				@err status 5xx
				handle_response @err { `+m+`
					respond "oops"
				}
			}
		}`, "handle_response is not supported in an agent's reverse_proxy"),
		globalCase("bad reverse_proxy option", `		agent support {
			reverse_proxy 127.0.0.1:9001 {
				lb_policy telepathy `+m+`
			}
		}`, "telepathy"),
		globalCase("bad reverse_proxy transport option", `		agent support {
			reverse_proxy 127.0.0.1:9001 {
				transport http {
					response_header_timeout soon `+m+`
				}
			}
		}`, "soon"),

		// Callbacks.
		agentCase("callback ftp URL", `			callback ftp://files.example.com/x `+m, "callback url must start with http:// or https://"),
		agentCase("callback relative URL", `			callback /results `+m, "callback url must start with http:// or https://"),
		agentCase("callback URL without host", `			callback https:///results `+m, "callback url has no host"),
		agentCase("callback URL that does not parse", `			callback "http://exa mple.com/%zz" `+m, "callback url is not a URL"),
		{
			name: "callback URL with credentials",
			caddyfile: globalCase("", `		agent support {
			reverse_proxy 127.0.0.1:9001
			callback https://alice:cb-url-password-5150@hooks.example.com/cb `+m+`
		}`, "").caddyfile,
			want:    "callback url must not hold credentials; use basic_auth",
			secrets: []string{"cb-url-password-5150"},
		},
		agentCase("callback without URL", `			callback { `+m+`
				format raw
			}`, "wrong argument count"),
		agentCase("callback with two URLs", `			callback https://a.example.com https://b.example.com `+m, "wrong argument count"),
		callbackCase("bad callback format", `				format xml `+m, "format must be raw or cognigy"),
		callbackCase("bad callback method", `				method GET `+m, "method must be POST or PUT"),
		callbackCase("callback method without value", `				method `+m, "wrong argument count"),
		callbackCase("ordered with argument", `				ordered yes `+m, "wrong argument count"),
		callbackCase("sign without kind", `				sign `+m, "wrong argument count"),
		callbackCase("sign standard_webhooks without secret", `				sign standard_webhooks `+m, "wrong argument count"),
		callbackCase("sign hmac without secret", `				sign hmac `+m, "wrong argument count"),
		callbackCase("sign hmac with two secrets", `				sign hmac sec-one-1111 sec-two-2222 `+m, "sign hmac takes one secret", "sec-one-1111", "sec-two-2222"),
		callbackCase("basic_auth without password", `				basic_auth alice `+m, "basic_auth needs a user and a password"),
		callbackCase("basic_auth with three args", `				basic_auth alice pw-extra-4040 more `+m, "basic_auth needs a user and a password", "pw-extra-4040"),
		callbackCase("header without value", `				header X-A `+m, "header needs a name and a value"),
		callbackCase("unknown event type", `				events task.succeeded task.done `+m, `unknown event type "task.done"`),
		callbackCase("events without types", `				events `+m, "wrong argument count"),
		callbackCase("filter that is not jq", "				filter `.result.priority ==` "+m, "filter: jq: unexpected EOF"),
		callbackCase("filter with a variable of another stage", "				filter `$chat.id == 1` "+m, "variable not defined: $chat"),
		callbackCase("filter in several tokens", `				filter .result.priority == "high" `+m, "put it in backticks"),
		callbackCase("filter twice", "				filter `true`\n				filter `false` "+m, "filter already specified"),
		callbackCase("endpoint without name", `				endpoint `+m, "endpoint needs the name"),
		callbackCase("rate_limit zero", `				rate_limit 0 `+m, "rate_limit: '0' is not a positive number"),
		callbackCase("rate_limit words", `				rate_limit fast `+m, "rate_limit: 'fast' is not a positive number"),
		callbackCase("callback timeout bad", `				timeout soon `+m, "'soon' is not a positive duration"),
		callbackCase("callback retry_schedule bad", `				retry_schedule 5s later `+m, "retry_schedule: invalid duration 'later'"),
		globalCase("alerts twice", `		alerts https://ops.example.com/a
		alerts https://ops.example.com/b `+m, "alerts already specified"),
		agentCase("request that is not jq", "			request `{text: .prompt` "+m, "request: jq: unexpected EOF"),
		agentCase("request with an answer variable", "			request `$status` "+m, "variable not defined: $status (request expressions have $chat, $caller, $headers, $query, $history)"),
		agentCase("request reading the environment", "			request `$ENV.HOME` "+m, "$ENV is not available"),
		agentCase("request in several tokens", `			request {text: .prompt} `+m, "put it in backticks"),
		agentCase("answer with a request variable", "			answer `$history` "+m, "variable not defined: $history"),
		agentCase("history without turns", "			history "+m, "wrong argument count"),
		agentCase("history zero", "			history 0 "+m, "'0' is not a positive integer"),
		agentCase("history with a bad size", "			history 10 lots "+m, "'lots' is not a size"),
		agentCase("history too large", "			history 10 1GB "+m, "the size bound is at most"),
		agentCase("adapter without a name", "			adapter "+m, "adapter needs a name"),
		agentCase("adapter unknown", "			adapter dify "+m, "unknown adapter 'dify'"),
		agentCase("adapter openai without a model", "			adapter openai { "+m+"\n				system hi\n			}", "model is required"),
		agentCase("adapter openai with a bad path", "			adapter openai { "+m+"\n				model m\n				path v1/chat\n			}", "must start with /"),
		agentCase("adapter langserve with a model", "			adapter langserve {\n				model m "+m+"\n			}", "unrecognized option 'model' of adapter langserve"),
		agentCase("adapter openai history zero", "			adapter openai {\n				model m\n				history 0 "+m+"\n			}", "not a positive integer"),
		agentCase("answer twice", "			answer `.`\n			answer `.a` "+m, "answer already specified"),
		endpointCase("endpoint request that is not jq", "		auth none\n		request `{a:` "+m, "request: jq"),
		endpointCase("endpoint answer with a payload variable", "		auth none\n		answer `$caller` "+m, "variable not defined: $caller"),
		callbackCase("payload that is not jq", "				payload `{text: .result` "+m, "payload: jq: unexpected EOF"),
		callbackCase("payload with a request variable", "				payload `$headers` "+m, "variable not defined: $headers (payload expressions have $task, $chat)"),
		callbackCase("payload and format", "				format cognigy\n				payload `.` "+m, "either format or payload"),
		globalCase("alerts with a bad filter", `		alerts https://ops.example.com/a {
			filter `+"`.type ==`"+` `+m+`
		}`, "filter: jq"),
	}
	return cases
}

var caddyfileLine = regexp.MustCompile(`Caddyfile:(\d+)`)

// markedLine returns the 1-based number of the line holding errMarker.
func markedLine(caddyfile string) int {
	for i, line := range strings.Split(caddyfile, "\n") {
		if strings.Contains(line, errMarker) {
			return i + 1
		}
	}
	return 0
}

func TestCaddyfileAdaptErrors(t *testing.T) {
	t.Parallel()
	seen := make(map[string]bool)
	for _, tc := range adaptErrorCases() {
		if seen[tc.name] {
			t.Fatalf("two cases are named %q", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			line := markedLine(tc.caddyfile)
			if line == 0 {
				t.Fatalf("the case has no %q marker", errMarker)
			}
			out, err := adaptCaddyfile(t, tc.caddyfile)
			if err == nil {
				t.Fatalf("adapt succeeded, want an error containing %q; JSON:\n%s", tc.want, out)
			}
			msg := err.Error()
			t.Logf("error: %s", msg)
			var failures []string
			if !strings.Contains(msg, tc.want) {
				failures = append(failures, fmt.Sprintf("error %q\ndoes not contain %q", msg, tc.want))
			}
			// The first Caddyfile:<line> is the innermost one, which names
			// the offending line; handler errors are wrapped again with the
			// directive's line after it.
			m := caddyfileLine.FindStringSubmatch(msg)
			if m == nil {
				failures = append(failures, fmt.Sprintf("error %q names no Caddyfile line, want Caddyfile:%d", msg, line))
			} else if got, _ := strconv.Atoi(m[1]); got != line {
				failures = append(failures, fmt.Sprintf("error %q names Caddyfile:%d, want Caddyfile:%d:\n%s", msg, got, line, numbered(tc.caddyfile)))
			}
			for _, s := range tc.secrets {
				if strings.Contains(msg, s) {
					failures = append(failures, fmt.Sprintf("error %q holds the secret %q", msg, s))
				}
			}
			for _, f := range failures {
				t.Error(f)
			}
		})
	}
}

// numbered prefixes each line with its number, for failure messages.
func numbered(s string) string {
	var sb strings.Builder
	for i, line := range strings.Split(s, "\n") {
		fmt.Fprintf(&sb, "%3d %s\n", i+1, line)
	}
	return sb.String()
}
