package dockerapi

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// shutdownGrace is how long Serve lets requests in progress finish once
// its context ends, before it closes their connections.
const shutdownGrace = 10 * time.Second

// Serve serves h on ln over HTTP/1.1 until ctx ends, then shuts down
// gracefully: it stops accepting, ends the streams that follow the
// daemon (events, logs -f, stats: their request contexts are cancelled),
// lets the other requests finish within a grace period, and returns nil.
// Hijacked connections (attach, exec) are left to finish on their own:
// live containers do not die with the API server.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	base, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	srv := &http.Server{
		Handler:           h,
		Protocols:         &protocols,
		ReadHeaderTimeout: 30 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	cancel()
	sctx, scancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
