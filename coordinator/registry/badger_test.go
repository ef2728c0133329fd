package registry_test

import (
	"io"
	"log/slog"
	"testing"

	"github.com/mpcsign/mpcsign/coordinator/registry"
	"github.com/mpcsign/mpcsign/coordinator/registry/storetest"
)

func TestBadgerStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) registry.Store {
		st, err := registry.OpenBadger(t.TempDir(), slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}
