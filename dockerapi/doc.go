// Package dockerapi is the Docker Engine HTTP API: a Handler serving an
// engine.API (on the daemon's unix socket or TCP with TLS) and a Client
// that implements engine.API over such a socket.
//
// The handler speaks the routes, query parameters, status codes and stream
// formats of Docker's API (versions MinAPIVersion to APIVersion), so the
// docker CLI and SDKs talk to berth unchanged; the Client is berth's own
// CLI's way to the daemon, mapping error responses back to *engine.Error of
// the same kind so callers cannot tell it from the in-process engine.
package dockerapi
