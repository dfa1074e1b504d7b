// Package dockerapi is the Docker Engine HTTP API: a Handler serving an
// engine.API (on the daemon's unix socket or TCP with TLS) and a Client
// that implements engine.API over such a socket.
package dockerapi
