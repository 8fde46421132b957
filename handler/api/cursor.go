package api

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/store"
)

// A cursor is the position of the last record of a page (see
// store.Position), opaque to callers: base64url of
// "<version>.<listing>.<unix nanoseconds>.<id>". The listing letter keeps a
// cursor from being used on a listing ordered by another time.

// Listings that page with cursors.
const (
	listDeliveries  = "d" // deliveries by creation time
	listDeadLetters = "f" // dead letters by the time they failed
	listTasks       = "t" // tasks by creation time
)

const cursorVersion = "1"

func encodeCursor(listing string, p store.Position) string {
	raw := cursorVersion + "." + listing + "." + strconv.FormatInt(p.At.UnixNano(), 10) + "." + p.ID
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

var errBadCursor = handler.Errorf(http.StatusBadRequest, handler.CodeBadRequest,
	"cursor must be the next_cursor of an earlier page of this listing, with the same filters")

// decodeCursor reads a cursor of listing; empty is no cursor.
func decodeCursor(listing, s string) (*store.Position, error) {
	if s == "" {
		return nil, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, errBadCursor
	}
	parts := strings.SplitN(string(raw), ".", 4)
	if len(parts) != 4 || parts[0] != cursorVersion || parts[1] != listing || !handler.ValidID(parts[3]) {
		return nil, errBadCursor
	}
	ns, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return nil, errBadCursor
	}
	return &store.Position{At: time.Unix(0, ns).UTC(), ID: parts[3]}, nil
}
