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
//   - Password hashes (bcrypt, argon2id) are expensive to check on purpose,
//     so checks that passed are remembered in a [PasswordCache] keyed by
//     an HMAC under a per-process random key (never the password, nor a
//     plain hash of it), and comparisons run at most [HashSlots] at a
//     time: a check that finds none free in time is [ErrBusy], not a
//     queue of CPU work that starves every other site of the server.
//   - A successful [Result] names the credential that verified with a
//     KeyID, a fingerprint that reveals nothing usable about the secret
//     and is stable across processes; a [KeyLister] lists a verifier's.
//
// Every verifier is immutable after construction; [TokenSet],
// [PasswordCache] and [HashSlots] lock. All of them are safe for
// concurrent use.
package signing
