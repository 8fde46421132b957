package api

import (
	"bytes"
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/agenthook/agenthook/handler"
)

// The dashboard: plain HTML, CSS and JavaScript, embedded, with no build
// step and nothing fetched from elsewhere. It talks to this API with the
// key its user types in, which it keeps in memory only.
//
//go:embed ui
var uiFiles embed.FS

// uiCSP lets the page load its own files and talk to this server, and
// nothing else: no inline script or style, no other origin, no framing.
const uiCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// uiTypes are the content types of the dashboard's files.
var uiTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".txt":  "text/plain; charset=utf-8",
}

// uiModTime is when the binary was built, as far as the files can tell.
var uiModTime = time.Now()

func (a *API) servesUI(p string) bool {
	ui := a.prefix() + "/ui"
	return p == ui || strings.HasPrefix(p, ui+"/")
}

// serveUI serves the dashboard's files, GET and HEAD only.
func (a *API) serveUI(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", uiCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		handler.WriteError(w, handler.Errorf(http.StatusMethodNotAllowed, handler.CodeMethodNotAllowed, "use GET"))
		return
	}
	rest := strings.TrimPrefix(r.URL.Path, a.prefix()+"/ui")
	if rest == "" {
		// Relative links need the slash.
		http.Redirect(w, r, a.prefix()+"/ui/", http.StatusMovedPermanently)
		return
	}
	name := strings.TrimPrefix(rest, "/")
	if name == "" {
		name = "index.html"
	}
	if path.Clean("/"+name) != "/"+name || strings.HasPrefix(name, ".") {
		handler.WriteError(w, notFound("no such file"))
		return
	}
	b, err := fs.ReadFile(uiFiles, "ui/"+name)
	typ, known := uiTypes[path.Ext(name)]
	if err != nil || !known {
		handler.WriteError(w, notFound("no such file"))
		return
	}
	h.Set("Content-Type", typ)
	http.ServeContent(w, r, name, uiModTime, bytes.NewReader(b))
}
