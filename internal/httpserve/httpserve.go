// Package httpserve runs an http.Server until its context ends, then shuts it
// down gracefully. The coordinator's metrics endpoint and its web console use it.
package httpserve

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// ShutdownGrace is how long requests in flight get to finish once ctx ends.
const ShutdownGrace = 5 * time.Second

// Run calls serve (srv.Serve or srv.ServeTLS on a listener) and returns when
// it fails or, once ctx ends, after srv shut down. A clean shutdown is nil.
func Run(ctx context.Context, srv *http.Server, serve func() error) error {
	errc := make(chan error, 1)
	go func() { errc <- serve() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
