package caddymodule

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/agenthook/agenthook/handler/admin"
)

// The `caddy agenthook` subcommands that call the admin routes (see
// admin.go). Tables go to stdout, or the routes' JSON with --json;
// progress goes to stderr, so that --json output stays one document.

// adminClient calls the agenthook admin routes of a running Caddy.
type adminClient struct {
	addr string
}

// newAdminClient finds the admin address as Caddy's own commands do:
// --address, else the admin address of --config, else localhost:2019.
func newAdminClient(cmd *cobra.Command) (*adminClient, error) {
	addr, _ := cmd.Flags().GetString("address")
	config, _ := cmd.Flags().GetString("config")
	adapter, _ := cmd.Flags().GetString("adapter")
	a, err := caddycmd.DetermineAdminAPIAddress(addr, nil, config, adapter)
	if err != nil {
		return nil, err
	}
	return &adminClient{addr: a}, nil
}

// call sends in (if not nil) as JSON and decodes the answer into out. An
// error answer becomes its message.
func (c *adminClient) call(method, path string, in, out any) ([]byte, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	resp, err := caddycmd.AdminAPIRequest(c.addr, method, admin.DefaultPrefix+path, nil, body)
	if err != nil {
		return nil, adminError(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, fmt.Errorf("the admin endpoint answered something other than agenthook's JSON: %w", err)
		}
	}
	return raw, nil
}

// adminError turns AdminAPIRequest's "caddy responded with error: HTTP
// 404: {...}" into the route's own sentence.
func adminError(err error) error {
	msg := err.Error()
	_, rest, ok := strings.Cut(msg, "caddy responded with error: HTTP ")
	if !ok {
		return err
	}
	code, body, _ := strings.Cut(rest, ": ")
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal([]byte(body), &e) == nil && e.Error != "" {
		if code == "404" && strings.Contains(e.Error, "no such agenthook admin route") {
			return errors.New("this Caddy has no agenthook admin routes: is it built with this agenthook?")
		}
		return fmt.Errorf("%s (HTTP %s)", e.Error, code)
	}
	return err
}

// addAdminFlags adds the flags every admin subcommand takes.
func addAdminFlags(c *cobra.Command) {
	c.Flags().String("address", "", "the admin API address (default: the one of --config, else localhost:2019)")
	c.Flags().StringP("config", "c", "", "a config file to read the admin address from")
	c.Flags().StringP("adapter", "a", "", "the adapter of --config")
	c.Flags().Bool("json", false, "print the admin API's JSON instead of a table")
}

func jsonFlag(cmd *cobra.Command) bool {
	v, _ := cmd.Flags().GetBool("json")
	return v
}

// printJSON prints an answer indented.
func printJSON(w io.Writer, raw []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, bytes.TrimSpace(raw), "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// adminCommands returns the subcommands calling the admin routes.
func adminCommands() []*cobra.Command {
	status := &cobra.Command{
		Use:   "status",
		Short: "Show queue and delivery counts and each agent's callbacks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newAdminClient(cmd)
			if err != nil {
				return err
			}
			var s admin.Status
			raw, err := c.call(http.MethodGet, "status", nil, &s)
			if err != nil {
				return err
			}
			if jsonFlag(cmd) {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			return printStatus(cmd.OutOrStdout(), s)
		},
	}
	tasks := &cobra.Command{
		Use:   "tasks [<task-id>]",
		Short: "Show how many tasks wait and run, or one task",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newAdminClient(cmd)
			if err != nil {
				return err
			}
			if len(args) == 1 {
				var t admin.TaskView
				raw, err := c.call(http.MethodGet, "tasks/"+url.PathEscape(args[0]), nil, &t)
				if err != nil {
					return err
				}
				if jsonFlag(cmd) {
					return printJSON(cmd.OutOrStdout(), raw)
				}
				return printTask(cmd.OutOrStdout(), t)
			}
			var n admin.TaskCounts
			raw, err := c.call(http.MethodGet, "tasks", nil, &n)
			if err != nil {
				return err
			}
			if jsonFlag(cmd) {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			return printTable(cmd.OutOrStdout(), []string{"PENDING", "STARTED"}, [][]string{{strconv.Itoa(n.Pending), strconv.Itoa(n.Started)}})
		},
	}
	deliveries := &cobra.Command{
		Use:   "deliveries [<delivery-id>] [--status failed|pending|delivered] [--agent <name>] [--limit <n>] [--cursor <c>] [--all]",
		Short: "List dead letters (or deliveries by status), or show one delivery",
		Args:  cobra.MaximumNArgs(1),
		RunE:  runDeliveries,
	}
	deliveries.Flags().String("status", "failed", "failed (dead letters), pending or delivered")
	deliveries.Flags().String("agent", "", "only this agent's")
	deliveries.Flags().Int("limit", 50, "deliveries per page")
	deliveries.Flags().String("cursor", "", "the page to start at, as printed after the previous one")
	deliveries.Flags().Bool("all", false, "fetch every page")
	retry := &cobra.Command{
		Use:   "retry <delivery-id>",
		Short: "Send a delivery again now",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newAdminClient(cmd)
			if err != nil {
				return err
			}
			var d admin.DeliveryView
			raw, err := c.call(http.MethodPost, "deliveries/"+url.PathEscape(args[0])+"/retry", nil, &d)
			if err != nil {
				return err
			}
			if jsonFlag(cmd) {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "delivery %s to %s is %s again; it goes out now\n", d.ID, d.CallbackID, d.Status)
			return err
		},
	}
	recoverCmd := &cobra.Command{
		Use:   "recover [--since <time|duration>] [--until <time|duration>] [--agent <name>] [--callback <id>] [--dry-run] [--wait]",
		Short: "Send dead letters again, agent by agent",
		Long: `
Makes dead letters pending again, so that they are delivered now. Without
flags, every dead letter of every agent; --since and --until bound when
they failed (an RFC 3339 time, or a duration ago such as 2h), --agent and
--callback narrow them down. --dry-run counts them and changes nothing.

Agents are recovered one after the other, each printing its count as it
goes. With --wait, the command then follows the pending deliveries until
they have gone out (or --timeout passes).`,
		Args: cobra.NoArgs,
		RunE: runRecover,
	}
	recoverCmd.Flags().String("since", "", "dead letters that failed at or after this (RFC 3339, or a duration ago: 2h)")
	recoverCmd.Flags().String("until", "", "dead letters that failed before this (RFC 3339, or a duration ago)")
	recoverCmd.Flags().String("agent", "", "only this agent's")
	recoverCmd.Flags().String("callback", "", "only those to this callback id")
	recoverCmd.Flags().Bool("dry-run", false, "count, change nothing")
	recoverCmd.Flags().Bool("wait", false, "then wait until no delivery is pending")
	recoverCmd.Flags().Duration("timeout", 10*time.Minute, "how long --wait waits")
	recoverCmd.Flags().Duration("interval", time.Second, "how often --wait looks")
	callbacks := &cobra.Command{
		Use:   "callbacks [--agent <name>] | callbacks enable|disable <callback-id>",
		Short: "List callbacks with their status, or turn one on or off",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newAdminClient(cmd)
			if err != nil {
				return err
			}
			agent, _ := cmd.Flags().GetString("agent")
			path := "callbacks"
			if agent != "" {
				path += "?agent=" + url.QueryEscape(agent)
			}
			var out struct {
				Data []admin.CallbackView `json:"data"`
			}
			raw, err := c.call(http.MethodGet, path, nil, &out)
			if err != nil {
				return err
			}
			if jsonFlag(cmd) {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			return printCallbacks(cmd.OutOrStdout(), out.Data)
		},
	}
	callbacks.Flags().String("agent", "", "only this agent's")
	for _, on := range []bool{true, false} {
		verb := map[bool]string{true: "enable", false: "disable"}[on]
		sub := &cobra.Command{
			Use:   verb + " <callback-id>",
			Short: map[bool]string{true: "Deliver to a callback again", false: "Stop delivering to a callback"}[on],
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := newAdminClient(cmd)
				if err != nil {
					return err
				}
				var in any
				if reason, _ := cmd.Flags().GetString("reason"); !on && reason != "" {
					in = map[string]string{"reason": reason}
				}
				var v admin.CallbackView
				raw, err := c.call(http.MethodPost, "callbacks/"+url.PathEscape(args[0])+"/"+verb, in, &v)
				if err != nil {
					return err
				}
				if jsonFlag(cmd) {
					return printJSON(cmd.OutOrStdout(), raw)
				}
				return printCallbacks(cmd.OutOrStdout(), []admin.CallbackView{v})
			},
		}
		if !on {
			sub.Flags().String("reason", "", "why, shown with the callback (default: disabled by the operator)")
		}
		addAdminFlags(sub)
		callbacks.AddCommand(sub)
	}
	cmds := []*cobra.Command{status, tasks, deliveries, retry, recoverCmd, callbacks}
	for _, c := range cmds {
		addAdminFlags(c)
		c.SilenceUsage = true
		c.SetFlagErrorFunc(flagError)
	}
	return cmds
}

// flagError adds a hint to cobra's flag errors: ids are base64url, and one
// made before ids avoided a leading '-' (or a chat id, which is derived)
// reads as a flag unless it follows "--".
func flagError(_ *cobra.Command, err error) error {
	if strings.Contains(err.Error(), "unknown shorthand flag") {
		return fmt.Errorf("%w (an id that begins with '-' goes after --, as in: caddy agenthook tasks -- -AbC…)", err)
	}
	return err
}

func runDeliveries(cmd *cobra.Command, args []string) error {
	c, err := newAdminClient(cmd)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if len(args) == 1 {
		var d admin.DeliveryView
		raw, err := c.call(http.MethodGet, "deliveries/"+url.PathEscape(args[0]), nil, &d)
		if err != nil {
			return err
		}
		if jsonFlag(cmd) {
			return printJSON(out, raw)
		}
		return printDelivery(out, d)
	}
	status, _ := cmd.Flags().GetString("status")
	agent, _ := cmd.Flags().GetString("agent")
	limit, _ := cmd.Flags().GetInt("limit")
	cursor, _ := cmd.Flags().GetString("cursor")
	all, _ := cmd.Flags().GetBool("all")
	var rows []admin.DeliveryView
	var pages [][]byte
	for {
		q := url.Values{"status": {status}, "limit": {strconv.Itoa(limit)}}
		if agent != "" {
			q.Set("agent", agent)
		}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page admin.DeliveryPage
		raw, err := c.call(http.MethodGet, "deliveries?"+q.Encode(), nil, &page)
		if err != nil {
			return err
		}
		rows, pages, cursor = append(rows, page.Data...), append(pages, raw), page.NextCursor
		if !all || cursor == "" {
			break
		}
	}
	if jsonFlag(cmd) {
		if len(pages) == 1 {
			return printJSON(out, pages[0])
		}
		raw, err := json.Marshal(admin.DeliveryPage{Data: rows})
		if err != nil {
			return err
		}
		return printJSON(out, raw)
	}
	if err := printDeliveries(out, rows); err != nil {
		return err
	}
	if cursor != "" {
		_, err = fmt.Fprintf(out, "\nmore: caddy agenthook deliveries --status %s --cursor %s\n", status, cursor)
	}
	return err
}

// parseWhen reads an RFC 3339 time, or a duration ago.
func parseWhen(s string, now time.Time) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return &t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return nil, fmt.Errorf("%q is neither an RFC 3339 time (2026-01-02T15:04:05Z) nor a duration ago (2h)", s)
	}
	t := now.Add(-d)
	return &t, nil
}

func runRecover(cmd *cobra.Command, _ []string) error {
	c, err := newAdminClient(cmd)
	if err != nil {
		return err
	}
	out, progress := cmd.OutOrStdout(), cmd.ErrOrStderr()
	now := time.Now()
	var in admin.RecoverRequest
	sinceFlag, _ := cmd.Flags().GetString("since")
	untilFlag, _ := cmd.Flags().GetString("until")
	if in.Since, err = parseWhen(sinceFlag, now); err != nil {
		return fmt.Errorf("--since: %w", err)
	}
	if in.Until, err = parseWhen(untilFlag, now); err != nil {
		return fmt.Errorf("--until: %w", err)
	}
	in.Callback, _ = cmd.Flags().GetString("callback")
	in.DryRun, _ = cmd.Flags().GetBool("dry-run")
	agent, _ := cmd.Flags().GetString("agent")
	agents := []string{agent}
	if agent == "" {
		var s admin.Status
		if _, err := c.call(http.MethodGet, "status", nil, &s); err != nil {
			return err
		}
		agents = agents[:0]
		for _, a := range s.Agents {
			agents = append(agents, a.Name)
		}
	}
	total := admin.RecoverResult{Agents: map[string]int{}, DryRun: in.DryRun}
	for _, name := range agents {
		in.Agent = name
		// One agent at a time: each answer is a count to show.
		var res admin.RecoverResult
		if _, err := c.call(http.MethodPost, "recover", in, &res); err != nil {
			return fmt.Errorf("agent %s: %w", name, err)
		}
		total.Agents[name] += res.Recovered
		total.Recovered += res.Recovered
		verb := "recovered"
		if in.DryRun {
			verb = "would be recovered"
		}
		fmt.Fprintf(progress, "%s: %d %s (%d in all so far)\n", name, res.Recovered, verb, total.Recovered)
	}
	if jsonFlag(cmd) {
		raw, err := json.Marshal(total)
		if err != nil {
			return err
		}
		if err := printJSON(out, raw); err != nil {
			return err
		}
	} else if err := printRecovered(out, total, agents); err != nil {
		return err
	}
	if wait, _ := cmd.Flags().GetBool("wait"); wait && !in.DryRun {
		timeout, _ := cmd.Flags().GetDuration("timeout")
		interval, _ := cmd.Flags().GetDuration("interval")
		return waitDelivered(c, progress, timeout, interval)
	}
	return nil
}

// waitDelivered polls the delivery counts until nothing is pending,
// printing them when they change.
func waitDelivered(c *adminClient, w io.Writer, timeout, interval time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := admin.DeliveryCounts{Pending: -1}
	for {
		var s admin.Status
		if _, err := c.call(http.MethodGet, "status", nil, &s); err != nil {
			return err
		}
		if s.Deliveries != last {
			fmt.Fprintf(w, "deliveries: %d pending, %d failed\n", s.Deliveries.Pending, s.Deliveries.Failed)
			last = s.Deliveries
		}
		if s.Deliveries.Pending == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d deliveries still pending after %s", s.Deliveries.Pending, timeout)
		}
		time.Sleep(interval)
	}
}
