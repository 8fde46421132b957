package endpoint

import "time"

// Defaults, also documented in the README.
const (
	DefaultChatHeader     = "X-Chat-Id"
	DefaultContinueHeader = "X-Continue-Chat-Id"
	DefaultMaxBody        = 1 << 20
	DefaultChatTTL        = 30 * 24 * time.Hour
	DefaultIdempotencyTTL = 24 * time.Hour
	// DefaultReplayTTL is how long a signed message's id is remembered:
	// longer than senders keep retrying a message in practice (Svix's
	// schedule reaches 10 h), so a late retry of an accepted message is
	// recognised rather than run again.
	DefaultReplayTTL = 24 * time.Hour
	// DefaultStatusReaders bounds the polls a status endpoint serves at
	// once.
	DefaultStatusReaders = 64
	// DefaultStatusWriteTimeout bounds the writing of one status answer.
	DefaultStatusWriteTimeout = 30 * time.Second
)

const (
	// chatRefresh is how stale a chat's record may get before a sync call
	// rewrites it just to push its expiry out. Without it, every turn of
	// a chat would cost a write.
	chatRefresh = time.Hour
	// maxQueuedHeaderBytes bounds the headers kept with a task.
	maxQueuedHeaderBytes = 16 << 10
	// maxIdempotencyKey bounds the Idempotency-Key header.
	maxIdempotencyKey = 255
	// readChunk is the most a request body buffer grows at once before
	// the body proves that large.
	readChunk = 64 << 10
)
