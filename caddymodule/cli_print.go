package caddymodule

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/agenthook/agenthook/handler/admin"
)

// The tables `caddy agenthook` prints.

func printTable(w io.Writer, head []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// printFields prints name/value lines, skipping empty values.
func printFields(w io.Writer, fields [][2]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, f := range fields {
		if f[1] != "" {
			fmt.Fprintf(tw, "%s\t%s\n", f[0], f[1])
		}
	}
	return tw.Flush()
}

func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func whenPtr(t *time.Time) string {
	if t == nil {
		return ""
	}
	return when(*t)
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

func printStatus(w io.Writer, s admin.Status) error {
	err := printTable(w, []string{"", "PENDING", "STARTED", "FAILED"}, [][]string{
		{"tasks", strconv.Itoa(s.Tasks.Pending), strconv.Itoa(s.Tasks.Started), "-"},
		{"deliveries", strconv.Itoa(s.Deliveries.Pending), "-", strconv.Itoa(s.Deliveries.Failed)},
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(w)
	rows := make([][]string, 0, len(s.Agents))
	for _, a := range s.Agents {
		rows = append(rows, []string{a.Name, strconv.Itoa(a.Callbacks["active"]), strconv.Itoa(a.Callbacks["inactive"]), strconv.Itoa(a.Callbacks["disabled"])})
	}
	return printTable(w, []string{"AGENT", "ACTIVE CALLBACKS", "INACTIVE", "DISABLED"}, rows)
}

func printTask(w io.Writer, t admin.TaskView) error {
	result := ""
	if t.ResultStatus != 0 {
		result = fmt.Sprintf("%d (%d bytes)", t.ResultStatus, t.ResultBytes)
	}
	return printFields(w, [][2]string{
		{"id", t.ID},
		{"agent", t.Agent},
		{"chat", t.ChatID},
		{"endpoint", t.Endpoint},
		{"status", t.Status},
		{"attempts", strconv.Itoa(t.Attempts)},
		{"error", t.Error},
		{"result", result},
		{"run after", whenPtr(t.RunAfter)},
		{"lease", strings.TrimSpace(t.LeaseOwner + " " + whenPtr(t.LeaseUntil))},
		{"created", when(t.CreatedAt)},
		{"updated", when(t.UpdatedAt)},
		{"finished", whenPtr(t.FinishedAt)},
		{"traceparent", t.Traceparent},
	})
}

func printDeliveries(w io.Writer, ds []admin.DeliveryView) error {
	if len(ds) == 0 {
		_, err := fmt.Fprintln(w, "no deliveries")
		return err
	}
	rows := make([][]string, 0, len(ds))
	for _, d := range ds {
		rows = append(rows, []string{d.ID, d.Agent, d.CallbackID, d.Status, strconv.Itoa(d.AttemptCount), when(d.UpdatedAt), cut(d.LastError, 60)})
	}
	return printTable(w, []string{"ID", "AGENT", "CALLBACK", "STATUS", "ATTEMPTS", "UPDATED", "LAST ERROR"}, rows)
}

func printDelivery(w io.Writer, d admin.DeliveryView) error {
	err := printFields(w, [][2]string{
		{"id", d.ID},
		{"task", d.TaskID},
		{"agent", d.Agent},
		{"callback", d.CallbackID},
		{"event", d.EventType},
		{"status", d.Status},
		{"attempts", strconv.Itoa(d.AttemptCount)},
		{"next attempt", whenPtr(d.NextAttemptAt)},
		{"last error", d.LastError},
		{"payload", strconv.Itoa(d.PayloadBytes) + " bytes"},
		{"created", when(d.CreatedAt)},
		{"updated", when(d.UpdatedAt)},
	})
	if err != nil || len(d.Attempts) == 0 {
		return err
	}
	fmt.Fprintln(w)
	rows := make([][]string, 0, len(d.Attempts))
	for i, a := range d.Attempts {
		status := "-"
		if a.StatusCode != 0 {
			status = strconv.Itoa(a.StatusCode)
		}
		rows = append(rows, []string{strconv.Itoa(i + 1), when(a.At), status, strconv.FormatFloat(a.LatencyMS, 'f', 1, 64) + "ms", cut(a.Error, 60)})
	}
	return printTable(w, []string{"#", "AT", "STATUS", "LATENCY", "ERROR"}, rows)
}

func printCallbacks(w io.Writer, cbs []admin.CallbackView) error {
	if len(cbs) == 0 {
		_, err := fmt.Fprintln(w, "no callbacks")
		return err
	}
	rows := make([][]string, 0, len(cbs))
	for _, cb := range cbs {
		rows = append(rows, []string{cb.ID, cb.Agent, cb.Source, cb.Status, cb.URL, whenPtr(cb.FailingSince), cut(cb.Reason, 50)})
	}
	return printTable(w, []string{"ID", "AGENT", "SOURCE", "STATUS", "URL", "FAILING SINCE", "REASON"}, rows)
}

func printRecovered(w io.Writer, r admin.RecoverResult, order []string) error {
	head := "RECOVERED"
	if r.DryRun {
		head = "WOULD BE RECOVERED"
	}
	seen := map[string]bool{}
	var rows [][]string
	for _, name := range order {
		seen[name] = true
		rows = append(rows, []string{name, strconv.Itoa(r.Agents[name])})
	}
	var rest []string
	for name := range r.Agents {
		if !seen[name] {
			rest = append(rest, name)
		}
	}
	sort.Strings(rest)
	for _, name := range rest {
		rows = append(rows, []string{name, strconv.Itoa(r.Agents[name])})
	}
	total := strconv.Itoa(r.Recovered)
	if r.More {
		total = "at least " + total
	}
	rows = append(rows, []string{"total", total})
	return printTable(w, []string{"AGENT", head}, rows)
}
