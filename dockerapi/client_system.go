package dockerapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/system"

	"github.com/berth-project/berth/engine"
)

// Ping asks /_ping (without a version prefix) for the server's API
// version and OS.
func (c *Client) Ping(ctx context.Context) (engine.Ping, error) {
	resp, err := c.send(ctx, request{method: http.MethodGet, path: "/_ping", unversioned: true})
	if err != nil {
		return engine.Ping{}, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return engine.Ping{APIVersion: resp.Header.Get("Api-Version"), OSType: resp.Header.Get("Ostype")}, nil
}

func (c *Client) Version(ctx context.Context) (system.VersionResponse, error) {
	var v system.VersionResponse
	err := c.call(ctx, request{method: http.MethodGet, path: "/version"}, &v)
	return v, err
}

func (c *Client) Info(ctx context.Context) (system.Info, error) {
	var info system.Info
	err := c.call(ctx, request{method: http.MethodGet, path: "/info"}, &info)
	return info, err
}

func (c *Client) DiskUsage(ctx context.Context) (system.DiskUsage, error) {
	var du system.DiskUsage
	err := c.call(ctx, request{method: http.MethodGet, path: "/system/df"}, &du)
	return du, err
}

// Events subscribes before it returns (the daemon answers once it has),
// then decodes the stream into the channel. The error channel gets one
// value: nil when the daemon ended the stream (until passed), ctx's error
// when ctx ended it, else what went wrong.
func (c *Client) Events(ctx context.Context, o engine.EventsOptions) (<-chan events.Message, <-chan error) {
	msgs, errs := make(chan events.Message), make(chan error, 1)
	q := values{}.str("since", o.Since).str("until", o.Until).filters(o.Filters)
	resp, err := c.send(ctx, request{method: http.MethodGet, path: "/events", query: url.Values(q)})
	if err != nil {
		errs <- err
		return msgs, errs
	}
	go func() {
		defer resp.Body.Close()
		dec := json.NewDecoder(resp.Body)
		for {
			var m events.Message
			if err := dec.Decode(&m); err != nil {
				switch {
				case ctx.Err() != nil:
					err = ctx.Err()
				case errors.Is(err, io.EOF):
					err = nil
				default:
					err = fmt.Errorf("read events: %w", err)
				}
				errs <- err
				return
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				errs <- ctx.Err()
				return
			}
		}
	}()
	return msgs, errs
}
