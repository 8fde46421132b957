package e2e

// The dashboard in a real browser: headless Chromium driven by chromedp,
// against a real Caddy. test.sh installs Chromium (Debian's chromium
// package) when it is missing; the test skips only when no browser is
// found and AGENTHOOK_SKIP_BROWSER=1 allows it.

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/agenthook/agenthook/internal/testkit"
)

// findChromium returns the browser to drive: AGENTHOOK_CHROMIUM, or the
// first of the usual names on PATH.
func findChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("AGENTHOOK_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("AGENTHOOK_SKIP_BROWSER") == "1" {
		t.Skip("no Chromium found, and AGENTHOOK_SKIP_BROWSER=1")
	}
	t.Fatal("no Chromium found: install Debian's chromium package (test.sh does), set AGENTHOOK_CHROMIUM, " +
		"or set AGENTHOOK_SKIP_BROWSER=1 to skip the browser tests")
	return ""
}

// pageWatch records what a page does that a test forbids: requests to
// other origins, console errors, exceptions and failed loads of the
// dashboard's own files.
type pageWatch struct {
	origin string
	mu     sync.Mutex
	bad    []string
	seen   int
}

func (w *pageWatch) listen(ev any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		w.seen++
		u := ev.Request.URL
		if !strings.HasPrefix(u, w.origin+"/") && !strings.HasPrefix(u, "data:") {
			w.bad = append(w.bad, "request to another origin: "+u)
		}
	case *network.EventResponseReceived:
		if strings.Contains(ev.Response.URL, "/api/ui/") && ev.Response.Status >= 400 {
			w.bad = append(w.bad, fmt.Sprintf("%s answered %d", ev.Response.URL, ev.Response.Status))
		}
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			var args []string
			for _, a := range ev.Args {
				args = append(args, string(a.Value)+a.Description)
			}
			w.bad = append(w.bad, "console."+string(ev.Type)+": "+strings.Join(args, " "))
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		text := d.Text
		if d.Exception != nil {
			text += " " + d.Exception.Description
		}
		w.bad = append(w.bad, "exception: "+text)
	case *log.EventEntryAdded:
		e := ev.Entry
		// The API's refusals (the wrong key's 401) are the network log's
		// record of answers the page expects; anything else is an error.
		if e.Level == log.EntryLevelError && !(e.Source == log.EntrySourceNetwork && strings.Contains(e.URL, "/api/") && !strings.Contains(e.URL, "/api/ui/")) {
			w.bad = append(w.bad, "log: "+string(e.Source)+": "+e.Text+" "+e.URL)
		}
	}
}

func (w *pageWatch) check(t *testing.T) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.seen == 0 {
		t.Fatal("no request was seen: the network events are not watched")
	}
	for _, b := range w.bad {
		t.Error(b)
	}
}

// TestDashboard: log in (a wrong key is refused), find a task by its id,
// open its failed delivery, retry it and see it delivered; a scoped key
// sees only its agents; no console error, no request elsewhere. With
// AGENTHOOK_SCREENSHOTS=<dir> it saves screenshots at 1280×800 and at
// phone width there (docs/ holds the committed ones).
func TestDashboard(t *testing.T) {
	t.Parallel()
	chrome := findChromium(t)
	agent := testkit.NewAgent(t)
	sink := testkit.NewSink(t)
	var failing atomic.Bool
	failing.Store(true)
	sink.Status = func(int, *http.Request) int {
		if failing.Load() {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	}
	okSink := testkit.NewSink(t)
	globals := fmt.Sprintf(`		delivery {
			allow_networks 127.0.0.1/32
			retry_schedule 30ms
			breaker 100 1s
		}
		agent support {
			reverse_proxy %[1]s
			webhook_token tok-support-1
			callback %[2]s/hook
		}
		agent billing {
			reverse_proxy %[1]s
			webhook_token tok-billing-1
			callback %[3]s/billing
		}
`, agent.Addr(), sink.URL, okSink.URL)
	s := startSite(t, globals, scopedAPIRoutes)
	c := newAPIClient(s)

	// Some traffic for the charts, and the task whose callback fails.
	for range 6 {
		c.submitToken("tok-billing-1", `{"question":"warm up"}`)
	}
	task, _ := c.submitToken("tok-support-1", `{"question":"Where is my parcel?"}`)
	dead := c.deadLetter("support", task)
	failing.Store(false)
	testkit.Eventually(t, 15*time.Second, func() bool {
		_, b := c.get("/api/agents/billing/deliveries?status=delivered")
		return strings.Count(string(b), `"status":"delivered"`) == 6
	}, "billing's callbacks were not delivered")

	shots := os.Getenv("AGENTHOOK_SCREENSHOTS")
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 800), chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancelCtx := chromedp.NewContext(actx)
	defer cancelCtx()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()

	w := &pageWatch{origin: s.base}
	if err := chromedp.Listen(ctx, w.listen); err != nil {
		t.Fatal(err)
	}
	must := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// waitJS waits until a JavaScript expression is true.
	waitJS := func(what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
			text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
			t.Fatalf("%s: %v\npage:\n%s", what, err, text)
		}
	}
	shot := func(name string) {
		t.Helper()
		if shots == "" {
			return
		}
		b, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// setHash moves within the page, as a link does.
	setHash := func(hash string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf("location.hash = %q", hash))); err != nil {
			t.Fatalf("going to %s: %v", hash, err)
		}
	}
	// press activates an element from the keyboard: focus, then Enter,
	// as a keyboard-only user does.
	press := func(what string, sel chromedp.CSS) {
		t.Helper()
		must(what, chromedp.Focus(sel), chromedp.KeyEvent("\r"))
	}
	login := func(key string) {
		t.Helper()
		// By keyboard: the key field has the focus, Enter signs in.
		must("finding the key field", chromedp.WaitVisible(chromedp.ID("key")))
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#key").value = ""`)); err != nil {
			t.Fatal(err)
		}
		must("typing the key", chromedp.Focus(chromedp.ID("key")), chromedp.KeyEvent(key+"\r"))
	}

	must("opening the dashboard", chromedp.EmulateViewport(1280, 800), chromedp.Navigate(s.base+"/api/ui/"))
	waitJS("the key field has the focus", `document.activeElement && document.activeElement.id === "key"`)

	// A wrong key is refused, and the app stays hidden.
	login("not-a-key")
	waitJS("the wrong key is refused", `document.querySelector("#login-error").textContent.includes("refused") && document.querySelector("#app").hidden`)

	login(apiKey)
	waitJS("the overview is live", `document.querySelector("#live") && document.querySelector("#live").textContent === "live" && document.querySelectorAll(".chart svg path").length > 0`)
	if v, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`Object.keys(localStorage).length === 0 && Object.keys(sessionStorage).length === 0 && document.cookie === ""`)); !v {
		t.Fatal("the dashboard stored something in the browser")
	}
	shot("dashboard-overview.png")

	// Tasks: find the task by its id.
	// The main path by keyboard alone.
	press("opening tasks", `nav a[data-view="tasks"]`)
	waitJS("the task search", `!!document.querySelector("#f-task-id")`)
	must("searching", chromedp.SendKeys(chromedp.ID("f-task-id"), task+"\r"))
	waitJS("the task is found", fmt.Sprintf(`!!document.querySelector('#task-results a[href="#/tasks/%s"]')`, task))
	press("opening the task", chromedp.CSS(fmt.Sprintf(`#task-results a[href="#/tasks/%s"]`, task)))
	waitJS("the task's detail", fmt.Sprintf(`document.querySelector("#task-request-section") && document.querySelector("#task-request-section").textContent.includes("application/json") && !!document.querySelector('tr[data-delivery="%s"] a')`, dead.ID))
	shot("dashboard-task.png")

	// Its failed delivery: every attempt, then a retry that delivers.
	press("opening the delivery", chromedp.CSS(fmt.Sprintf(`tr[data-delivery="%s"] a`, dead.ID)))
	waitJS("the dead letter", `document.querySelector("#delivery-status") && document.querySelector("#delivery-status").textContent === "failed" && document.querySelectorAll("table tbody tr").length >= 2 && !!document.querySelector("#delivery-payload")`)
	press("retrying", "#retry")
	waitJS("the delivery is delivered", `document.querySelector("#delivery-status") && document.querySelector("#delivery-status").textContent === "delivered"`)
	shot("dashboard-delivery.png")

	// Deliveries: bulk recover counts first, and asks.
	setHash("#/deliveries?agent=support&status=failed")
	waitJS("the deliveries view", `!!document.querySelector("#recover-count")`)
	must("counting", chromedp.Click(chromedp.ID("recover-count")))
	waitJS("the dry run", `!!document.querySelector("#recover-result") || !!document.querySelector("#recover-preview")`)

	// Agents: upstream health and callbacks.
	must("opening agents", chromedp.Click(chromedp.CSS(`nav a[data-view="agents"]`)))
	waitJS("both agents", `document.querySelectorAll("section[data-agent]").length === 2 && document.querySelector('section[data-agent="support"] .badge').textContent === "healthy"`)
	shot("dashboard-agents.png")

	// Phone width.
	if shots != "" {
		must("phone width", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Click(chromedp.CSS(`nav a[data-view="overview"]`)))
		waitJS("the overview at phone width", `document.querySelector("#live") && document.querySelectorAll(".chart svg path").length > 0`)
		shot("dashboard-phone-overview.png")
		setHash("#/deliveries/" + dead.ID)
		waitJS("the delivery at phone width", `document.querySelector("#delivery-status") && document.querySelector("#delivery-status").textContent === "delivered"`)
		shot("dashboard-phone-delivery.png")
		must("desktop again", chromedp.EmulateViewport(1280, 800))
	}

	// Logging out forgets the key; a key limited to support sees only it.
	must("logging out", chromedp.Click(chromedp.ID("logout")))
	waitJS("signed out", `!document.querySelector("#login").hidden && document.querySelector("#app").hidden && document.querySelector("#main").children.length === 0`)
	login(supportKey)
	waitJS("signed in with the support key", `!document.querySelector("#app").hidden`)
	must("opening agents", chromedp.Click(chromedp.CSS(`nav a[data-view="agents"]`)))
	waitJS("only support", `document.querySelectorAll("section[data-agent]").length === 1 && !!document.querySelector('section[data-agent="support"]')`)
	must("opening deliveries", chromedp.Click(chromedp.CSS(`nav a[data-view="deliveries"]`)))
	waitJS("only support's deliveries", `!!document.querySelector("#f-agent") && [...document.querySelectorAll("#f-agent option")].map(o => o.value).join() === "support"`)

	w.check(t)
}
