package caddymodule

import (
	"strings"
	"testing"
)

func TestLogTasksOption(t *testing.T) {
	for _, bad := range []string{"log_tasks", "log_tasks loud", "log_tasks on off", "log_tasks on\n\t\tlog_tasks off"} {
		_, err := adaptCaddyfile(t, "{\n\tagenthook {\n\t\t"+bad+"\n\t}\n}\n:8080 {\n\trespond ok\n}\n")
		if err == nil || !strings.Contains(err.Error(), "log_tasks") {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if err := (&App{LogTasks: "quiet"}).Validate(); err == nil {
		t.Error("JSON log_tasks quiet was accepted")
	}
	a := &App{LogTasks: "off", Queue: new(QueueConfig)}
	if !a.runnerConfig().QuietSuccess {
		t.Error("log_tasks off does not quiet successes")
	}
}
