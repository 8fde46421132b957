// Package signing holds the credentials agenthook checks on the way in and
// the signatures it adds on the way out.
//
// Inbound, every scheme is a [Verifier]: Basic auth, bearer tokens, a plain
// HMAC of the body (UPTIQ's x-signature and its many look-alikes), Standard
// Webhooks (and Svix, which it grew out of), GitHub and Stripe. Agent tokens
// carried in the URL path (DocsGPT style) are looked up in a [TokenSet].
// Outbound, every scheme is a [Signer]: [StandardWebhooksSigner] and
// [HMACSigner] sign callbacks. [NewKeyFile], [GenerateSecret] and
// [GenerateEd25519] make fresh keys.
//
// The package imports nothing but the standard library and
// golang.org/x/crypto, so that it can be tested and fuzzed on its own and
// reviewed without knowing Caddy.
//
// The rules every file here keeps, because a webhook endpoint is reachable
// by anyone who can guess its URL:
//
//   - Secrets, tokens and signatures are compared in constant time
//     (crypto/subtle, hmac.Equal), and a list of them is walked to the end
//     instead of stopping at the first match, so that timing reveals neither
//     a secret nor which of several secrets matched.
//   - Signatures are checked over the raw body bytes exactly as received.
//     Re-serialising JSON changes bytes, and then nothing verifies.
//   - Headers are bounded and parsed defensively: a missing, short, garbled
//     or oversized header is an error, never a panic (the fuzz tests hold
//     this), and never costs more than a bounded amount of CPU.
//   - Errors wrap one of [ErrMissing], [ErrInvalid] or [ErrExpired] and carry
//     only fixed text: never a secret, a token or the presented signature,
//     because error text ends up in logs and sometimes in responses.
//   - Bearer and URL tokens are kept in memory only as SHA-256 hashes, so a
//     heap dump or a debug endpoint does not hand them out.
//
// Every type here is immutable after construction, except [TokenSet], which
// locks; all of them are safe for concurrent use.
package signing
