package endpoint

import (
	"io"
	"net/http"

	"github.com/agenthook/agenthook/handler"
)

// readBody reads at most limit bytes; more is a 413. The exact bytes are
// kept: signatures are checked on them and the backend receives them.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	if r.Body == nil {
		return nil, nil
	}
	size := r.ContentLength
	if size < 0 || size > readChunk {
		size = readChunk // grow as needed rather than trust a large header
	}
	buf := make([]byte, 0, size+1)
	for {
		n, err := r.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return nil, tooLarge(limit)
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, handler.Errorf(http.StatusBadRequest, handler.CodeBadRequest, "the request body could not be read")
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
	}
}

// tooLarge is the 413 of readBody, made only when it is the answer.
func tooLarge(limit int64) error {
	return handler.Errorf(http.StatusRequestEntityTooLarge, handler.CodeTooLarge, "the request body is larger than %d bytes", limit)
}
