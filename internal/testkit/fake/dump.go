package fake

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// dumpChunk is how much of a dump is buffered before it is written.
const dumpChunk = 1 << 20

// WriteDump writes one line per arrival: "task_id arrival_ns webhook_id
// path", "-" standing for an empty field. ReadDump reads it back.
func WriteDump(w io.Writer, arrivals []Arrival) error {
	var b bytes.Buffer
	for _, a := range arrivals {
		fmt.Fprintf(&b, "%s %d %s %s\n", orDash(a.TaskID), a.At.UnixNano(), orDash(a.WebhookID), orDash(a.Path))
		if b.Len() > dumpChunk {
			if _, err := w.Write(b.Bytes()); err != nil {
				return err
			}
			b.Reset()
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ReadDump reads what WriteDump wrote.
func ReadDump(r io.Reader) ([]Arrival, error) {
	var out []Arrival
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 {
			return out, fmt.Errorf("dump line %q: want 4 fields", sc.Text())
		}
		ns, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return out, fmt.Errorf("dump line %q: %w", sc.Text(), err)
		}
		out = append(out, Arrival{TaskID: unDash(f[0]), At: time.Unix(0, ns), WebhookID: unDash(f[2]), Path: unDash(f[3])})
	}
	return out, sc.Err()
}

func unDash(s string) string {
	if s == "-" {
		return ""
	}
	return s
}
