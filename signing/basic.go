package signing

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// defaultRealm is the realm named in the Basic challenge when none is
// configured.
const defaultRealm = "agenthook"

// defaultBcryptCost is the cost HashPassword uses when given 0. It is
// Caddy's own default (caddy hash-password): slow enough to hurt an
// offline guesser, fast enough for an interactive login.
const defaultBcryptCost = 14

// BasicUser is one account for HTTP Basic auth. Hash is a bcrypt hash
// ($2a$, $2b$ or $2y$), as produced by HashPassword, `caddy hash-password`
// or htpasswd -B; the plaintext password is never configured.
type BasicUser struct {
	Username string
	Hash     string
}

// Basic checks "Authorization: Basic ..." against bcrypt-hashed passwords,
// as Treasure Data's Agent Foundry sends them.
//
// Like Caddy's basic_auth, it spends the same effort on an unknown user as
// on a known one: the password is compared with a fake hash of the same
// cost, so response time does not reveal which usernames exist.
type Basic struct {
	realm    string
	users    map[string][]byte // username → bcrypt hash
	fakeHash []byte
}

// compareBcrypt is bcrypt.CompareHashAndPassword, behind a variable so that
// tests can observe that the unknown-user path really does the work.
var compareBcrypt = bcrypt.CompareHashAndPassword

// NewBasic returns a Basic verifier for users. realm names the protection
// space in the challenge; "" means "agenthook".
func NewBasic(realm string, users []BasicUser) (*Basic, error) {
	if realm == "" {
		realm = defaultRealm
	}
	if strings.ContainsAny(realm, "\"\\\r\n") {
		return nil, errors.New(`basic: realm must not contain quotes, backslashes or line breaks`)
	}
	if len(users) == 0 {
		return nil, errors.New("basic: at least one user is required")
	}
	b := &Basic{realm: realm, users: make(map[string][]byte, len(users))}
	maxCost := 0
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
		cost, err := bcryptCost(u.Hash)
		if err != nil {
			return nil, fmt.Errorf("basic: user %q: %v", u.Username, err)
		}
		maxCost = max(maxCost, cost)
		b.users[u.Username] = []byte(u.Hash)
	}
	fake, err := fakeBcryptHash(maxCost)
	if err != nil {
		return nil, fmt.Errorf("basic: generating the fake hash: %v", err)
	}
	b.fakeHash = fake
	return b, nil
}

// bcryptCost checks that hash is a well-formed bcrypt hash and returns its
// cost. Errors describe the problem without repeating the hash.
func bcryptCost(hash string) (int, error) {
	if !strings.HasPrefix(hash, "$2a$") && !strings.HasPrefix(hash, "$2b$") && !strings.HasPrefix(hash, "$2y$") {
		return 0, errors.New("password hash must be a bcrypt hash starting with $2a$, $2b$ or $2y$ (plaintext passwords are not accepted; see HashPassword)")
	}
	cost, err := bcrypt.Cost([]byte(hash))
	if err != nil || len(hash) != 60 {
		return 0, errors.New("password hash looks like bcrypt but is malformed")
	}
	return cost, nil
}

// fakeHashes caches one fake hash per cost, so that a config reload does
// not pay for generating it again (at cost 14 that is about a second).
var fakeHashes sync.Map // int → []byte

// fakeBcryptHash returns a bcrypt hash of a random password that nobody
// knows, at the given cost. Comparing a presented password with it takes
// as long as comparing with a real hash of that cost, and always fails.
//
// When users' hashes have different costs, the highest is used: an unknown
// user then costs as much as the most expensive known one. Timing can
// still tell a cheaper account from an unknown one; give every account the
// same cost to avoid that.
func fakeBcryptHash(cost int) ([]byte, error) {
	if h, ok := fakeHashes.Load(cost); ok {
		return h.([]byte), nil
	}
	password := make([]byte, 32)
	if _, err := rand.Read(password); err != nil {
		return nil, err
	}
	// bcrypt only uses the first 72 bytes; 32 random bytes are plenty.
	h, err := bcrypt.GenerateFromPassword(password, cost)
	if err != nil {
		return nil, err
	}
	actual, _ := fakeHashes.LoadOrStore(cost, h)
	return actual.([]byte), nil
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
// same error after the same amount of work.
func (b *Basic) Verify(r *http.Request, _ []byte, _ time.Time) (Result, error) {
	username, password, err := basicCredentials(headerValue(r, "Authorization"))
	if err != nil {
		return Result{}, err
	}
	hash, known := b.users[username]
	if !known {
		hash = b.fakeHash
	}
	if err := compareBcrypt(hash, []byte(password)); err != nil || !known {
		return Result{}, invalid(schemeBasic, "wrong username or password")
	}
	return Result{Principal: schemeBasic + ":" + username}, nil
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
var _ Verifier = (*Basic)(nil)
