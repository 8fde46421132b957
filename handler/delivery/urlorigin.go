package delivery

import "net/url"

// URLOrigin returns a URL's scheme and host, without its path, query,
// fragment or user info, which may hold a receiver's secret: what the API
// shows of a static callback, and what logs show of any callback.
func URLOrigin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(not a URL)"
	}
	return u.Scheme + "://" + u.Host
}
