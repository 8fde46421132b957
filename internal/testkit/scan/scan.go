// Package scan holds what the bench tools and the fake callback receiver
// share for reading agenthook's answers fast, without decoding them.
package scan

import "bytes"

// TaskID finds "task_id":"..." in a JSON body without decoding it; "" if
// there is none.
func TaskID(b []byte) string {
	const k = `"task_id":"`
	i := bytes.Index(b, []byte(k))
	if i < 0 {
		return ""
	}
	b = b[i+len(k):]
	j := bytes.IndexByte(b, '"')
	if j < 0 {
		return ""
	}
	return string(b[:j])
}
