package api

import (
	"errors"
	"net/http"

	"go.uber.org/zap"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/handler/delivery"
	"github.com/agenthook/agenthook/store"
)

// refusedURL answers a callback URL that CheckURL refused. A refusal for
// where the URL leads gets one fixed sentence, whatever the reason: naming
// the address a host resolved to, or telling a name that does not resolve
// from one that resolves inside, would make the API a way to map the
// operator's network. The reason goes to the debug log, with the URL's
// scheme and host only (its path and query may hold a secret). A URL that
// is malformed is told so: that says nothing about the network.
func (a *API) refusedURL(raw string, err error) error {
	if errors.Is(err, store.ErrUnavailable) {
		// The check could not be made (the server is still starting):
		// try again, rather than a verdict on the URL.
		return handler.StoreError(err)
	}
	if !errors.Is(err, delivery.ErrRefused) {
		return handler.Errorf(http.StatusBadRequest, handler.CodeBadRequest, "url is not acceptable: %s", err.Error())
	}
	a.Logger.Debug("callback url refused", zap.String("url", delivery.URLOrigin(raw)), zap.String("reason", err.Error()))
	return handler.Errorf(http.StatusBadRequest, handler.CodeBadRequest, "%s", delivery.ErrRefused.Error())
}
