package scan

import "testing"

func TestTaskID(t *testing.T) {
	for in, want := range map[string]string{
		`{"task_id":"abc","chat_id":"c"}`: "abc",
		`{"type":"x","task_id":"t-1"}`:    "t-1",
		`{"task_id":"unterminated`:        "",
		`{"chat_id":"c"}`:                 "",
		``:                                "",
	} {
		if got := TaskID([]byte(in)); got != want {
			t.Errorf("TaskID(%q) = %q, want %q", in, got, want)
		}
	}
}
