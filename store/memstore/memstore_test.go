package memstore

import (
	"testing"

	"github.com/agenthook/agenthook/store"
	"github.com/agenthook/agenthook/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, c *storetest.Clock) store.Store {
		return New(Options{Now: c.Now})
	})
}
