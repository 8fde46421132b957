package store

// MaxAttemptsKept bounds the attempt log of one delivery: the first
// attempt and the latest ones are kept.
const MaxAttemptsKept = 50

// AttemptsWithResponse is how many of the latest attempts keep the
// receiver's answer (its first bytes and headers); older ones keep their
// time, status, latency and error. A delivery retried for days would
// otherwise carry an answer per attempt.
const AttemptsWithResponse = 5

// AppendAttempt returns log with a appended, bounded as every engine
// bounds an attempt log. log is not changed.
func AppendAttempt(log []Attempt, a Attempt) []Attempt {
	out := make([]Attempt, 0, min(len(log)+1, MaxAttemptsKept))
	if len(log)+1 > MaxAttemptsKept {
		out = append(out, log[0])
		out = append(out, log[len(log)-MaxAttemptsKept+2:]...)
	} else {
		out = append(out, log...)
	}
	out = append(out, a)
	for i := range len(out) - AttemptsWithResponse {
		out[i].Response, out[i].ResponseBase64, out[i].ResponseHeader, out[i].ResponseTruncated = "", "", nil, false
	}
	return out
}
