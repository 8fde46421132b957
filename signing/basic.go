package signing

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// defaultRealm is the realm named in the Basic challenge when none is
// configured.
const defaultRealm = "agenthook"

// defaultBcryptCost is the cost HashPassword uses when given 0. It is
// Caddy's own default (caddy hash-password): slow enough to hurt an
// offline guesser, and about a second of CPU per check, which is why
// checks are cached and bounded (see PasswordCache and HashSlots).
const defaultBcryptCost = 14

// BasicUser is one account for HTTP Basic auth. Hash is a bcrypt hash
// ($2a$, $2b$ or $2y$), as produced by HashPassword, `caddy hash-password`
// or htpasswd -B, or an argon2id hash as `caddy hash-password --algorithm
// argon2id` writes it; the plaintext password is never configured.
type BasicUser struct {
	Username string
	Hash     string
}

// BasicOptions tune how a Basic verifier spends CPU. The zero value shares
// the process-wide slots and cache, which is what a server wants.
type BasicOptions struct {
	// Slots bound the hash comparisons running at once. nil means
	// SharedHashSlots().
	Slots *HashSlots

	// Cache remembers successful checks. nil means SharedPasswordCache().
	Cache *PasswordCache
}

// Basic checks "Authorization: Basic ..." against bcrypt or argon2id
// password hashes, as Treasure Data's Agent Foundry sends them.
//
// Like Caddy's basic_auth, it spends the same effort on an unknown user as
// on a known one: the password is compared with a fake hash of the same
// kind and cost, so response time does not reveal which usernames exist.
//
// A password hash is expensive to check on purpose, and Basic clients send
// the password with every request. So a successful check is remembered in
// a PasswordCache (which holds no password), concurrent checks of the same
// credentials share one comparison, and comparisons take a slot of a
// HashSlots: when none comes free in time, Verify fails with ErrBusy
// instead of piling more CPU work onto a loaded server. An unknown user's
// fake comparison takes a slot too, so that it costs the same.
type Basic struct {
	realm  string
	users  map[string]basicAccount
	keyIDs []string // in configuration order
	fake   *passwordHash
	slots  *HashSlots
	cache  *PasswordCache

	// compare is the expensive comparison. Tests replace it to count or
	// block comparisons without timing anything.
	compare func(h *passwordHash, password []byte) bool
}

// basicAccount is a configured user.
type basicAccount struct {
	hash  *passwordHash
	keyID string
}

// NewBasic returns a Basic verifier for users, sharing the process-wide
// slots and cache. realm names the protection space in the challenge; ""
// means "agenthook".
func NewBasic(realm string, users []BasicUser) (*Basic, error) {
	return NewBasicWithOptions(realm, users, BasicOptions{})
}

// NewBasicWithOptions is NewBasic with its own slots or cache.
func NewBasicWithOptions(realm string, users []BasicUser, opts BasicOptions) (*Basic, error) {
	if realm == "" {
		realm = defaultRealm
	}
	if strings.ContainsAny(realm, "\"\\\r\n") {
		return nil, errors.New(`basic: realm must not contain quotes, backslashes or line breaks`)
	}
	if len(users) == 0 {
		return nil, errors.New("basic: at least one user is required")
	}
	b := &Basic{
		realm:   realm,
		users:   make(map[string]basicAccount, len(users)),
		slots:   opts.Slots,
		cache:   opts.Cache,
		compare: (*passwordHash).matches,
	}
	if b.slots == nil {
		b.slots = SharedHashSlots()
	}
	if b.cache == nil {
		b.cache = SharedPasswordCache()
	}
	hashes := make([]*passwordHash, 0, len(users))
	for i, u := range users {
		if u.Username == "" {
			return nil, fmt.Errorf("basic: user %d: username is empty", i)
		}
		if strings.Contains(u.Username, ":") {
			// RFC 7617: the user-id cannot contain a colon, so such a user
			// could never log in.
			return nil, fmt.Errorf("basic: user %q: username must not contain ':'", u.Username)
		}
		if _, dup := b.users[u.Username]; dup {
			return nil, fmt.Errorf("basic: user %q is listed twice", u.Username)
		}
		h, err := parsePasswordHash(u.Hash)
		if err != nil {
			return nil, fmt.Errorf("basic: user %q: %v", u.Username, err)
		}
		// The KeyID names the account as configured: the same user with
		// the same hash is the same credential in every process; a new
		// password (a new hash) is a new credential.
		id := keyID(schemeBasic, []byte(u.Username), h.raw)
		b.users[u.Username] = basicAccount{hash: h, keyID: id}
		b.keyIDs = append(b.keyIDs, id)
		hashes = append(hashes, h)
	}
	fake, err := fakeHashFor(hashes)
	if err != nil {
		return nil, fmt.Errorf("basic: generating the fake hash: %v", err)
	}
	b.fake = fake
	return b, nil
}

// Scheme returns "basic".
func (*Basic) Scheme() string { return schemeBasic }

// Challenge returns the WWW-Authenticate value that asks a client for
// Basic credentials: Basic realm="<realm>".
func (b *Basic) Challenge() string {
	return `Basic realm="` + b.realm + `"`
}

// Verify checks the Authorization header. A request with no Authorization
// header, or one that uses another scheme, is ErrMissing; undecodable
// credentials are ErrInvalid. A wrong password and an unknown user give the
// same error after the same amount of work. When the check would need a
// comparison and no slot comes free in time, the error is ErrBusy: the
// credentials were not judged, so the caller should be asked to retry,
// not told they are wrong.
func (b *Basic) Verify(r *http.Request, _ []byte, _ time.Time) (Result, error) {
	username, password, err := basicCredentials(headerValue(r, "Authorization"))
	if err != nil {
		return Result{}, err
	}
	acct, known := b.users[username]
	hash := b.fake
	if known {
		hash = acct.hash
	}
	// An unknown user is looked up too, so that both paths do the same
	// work; it can never be found, because only known users are added.
	k := b.cache.key(username, password, hash.raw)
	if b.cache.has(k) && known {
		return b.result(username, acct), nil
	}
	ok, busy := b.cache.check(k, func() (ok, busy bool) {
		release, got := b.slots.acquire()
		if !got {
			return false, true
		}
		defer release()
		return b.compare(hash, []byte(password)), false
	})
	if busy {
		return Result{}, busyErr(schemeBasic, "every password check slot is taken")
	}
	if !ok || !known {
		return Result{}, invalid(schemeBasic, "wrong username or password")
	}
	b.cache.add(k)
	return b.result(username, acct), nil
}

func (b *Basic) result(username string, acct basicAccount) Result {
	return Result{Principal: schemeBasic + ":" + username, User: username, KeyID: acct.keyID}
}

// KeyIDs returns the KeyID of every configured user.
func (b *Basic) KeyIDs() []string { return distinct(b.keyIDs) }

// UserKeyIDs returns each configured user's KeyID, by username.
func (b *Basic) UserKeyIDs() map[string]string {
	m := make(map[string]string, len(b.users))
	for name, acct := range b.users {
		m[name] = acct.keyID
	}
	return m
}

// basicCredentials decodes an Authorization header value of the form
// "Basic base64(user:password)" (RFC 7617). The scheme word is
// case-insensitive; the password may contain colons, the user-id may not.
func basicCredentials(header string) (username, password string, err error) {
	if header == "" {
		return "", "", missing(schemeBasic, "no Authorization header")
	}
	if len(header) > maxHeaderBytes {
		return "", "", invalid(schemeBasic, "Authorization header too long")
	}
	scheme, encoded, _ := strings.Cut(header, " ")
	if !strings.EqualFold(scheme, "Basic") {
		return "", "", missing(schemeBasic, "Authorization header is not Basic")
	}
	decoded, decErr := base64.StdEncoding.DecodeString(strings.Trim(encoded, " \t"))
	if decErr != nil {
		return "", "", invalid(schemeBasic, "credentials are not valid base64")
	}
	username, password, ok := strings.Cut(string(decoded), ":")
	if !ok {
		return "", "", invalid(schemeBasic, "credentials have no ':' between username and password")
	}
	if username == "" {
		return "", "", invalid(schemeBasic, "empty username")
	}
	if strings.IndexByte(password, 0) >= 0 {
		// bcrypt keys its cipher with the password and a trailing NUL,
		// repeated: "pw\x00pw" would then pass for "pw". Nobody types a
		// NUL, so refuse it instead of accepting an alias.
		return "", "", invalid(schemeBasic, "password contains a NUL byte")
	}
	return username, password, nil
}

// HashPassword returns the bcrypt hash of pw at the given cost, for
// configuring a BasicUser. Cost 0 means 14, Caddy's default. Passwords
// longer than 72 bytes are refused, since bcrypt would silently ignore the
// rest.
func HashPassword(pw string, cost int) (string, error) {
	if pw == "" {
		return "", errors.New("basic: password is empty")
	}
	if strings.IndexByte(pw, 0) >= 0 {
		return "", errors.New("basic: password contains a NUL byte, which Verify refuses")
	}
	if cost == 0 {
		cost = defaultBcryptCost
	}
	if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		return "", fmt.Errorf("basic: bcrypt cost must be between %d and %d", bcrypt.MinCost, bcrypt.MaxCost)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
	if err != nil {
		return "", fmt.Errorf("basic: %w", err)
	}
	return string(h), nil
}

// Interface guards
var (
	_ Verifier      = (*Basic)(nil)
	_ KeyLister     = (*Basic)(nil)
	_ UserKeyLister = (*Basic)(nil)
)
