package dockerapi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/berth-project/berth/engine"
)

// hijack makes r on a connection of its own, asking to upgrade it to a
// raw stream (Connection: Upgrade, Upgrade: tcp, as docker's client
// does), and returns the connection as a Stream once the daemon has
// answered 101 (or 200, the raw stream of servers that do not upgrade).
func (c *Client) hijack(ctx context.Context, r request) (engine.Stream, error) {
	req, err := c.newRequest(ctx, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "tcp")
	conn, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	// ctx bounds the handshake, not the stream.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	br := bufio.NewReader(conn)
	resp, err := func() (*http.Response, error) {
		if err := req.Write(conn); err != nil {
			return nil, err
		}
		return http.ReadResponse(br, req)
	}()
	if !stop() || err != nil {
		conn.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%s %s: %w", r.method, r.path, err)
	}
	_ = conn.SetDeadline(time.Time{})
	if resp.StatusCode != http.StatusSwitchingProtocols && resp.StatusCode != http.StatusOK {
		defer conn.Close()
		return nil, responseError(resp, r)
	}
	return &hijacked{Conn: conn, br: br}, nil
}

// hijacked is the Stream of an upgraded connection: reads continue from
// the reader that parsed the response (it may hold output already).
type hijacked struct {
	net.Conn
	br *bufio.Reader
}

func (h *hijacked) Read(p []byte) (int, error) { return h.br.Read(p) }

// CloseWrite half-closes the connection: the daemon sees the end of stdin
// while the output keeps coming.
func (h *hijacked) CloseWrite() error {
	if cw, ok := h.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.New("close stdin: the connection cannot be half-closed")
}
