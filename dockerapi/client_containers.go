package dockerapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/moby/moby/api/types/container"

	"github.com/berth-project/berth/engine"
)

func (c *Client) ContainerCreate(ctx context.Context, name string, req engine.CreateRequest) (container.CreateResponse, error) {
	var resp container.CreateResponse
	err := c.call(ctx, request{
		method: http.MethodPost, path: "/containers/create",
		query: url.Values(values{}.str("name", name)), json: req,
	}, &resp)
	return resp, err
}

func (c *Client) ContainerStart(ctx context.Context, id string) error {
	return c.call(ctx, request{
		method: http.MethodPost, path: "/containers/" + id + "/start",
		noBody: "container " + id + " is already started",
	}, nil)
}

func stopQuery(o engine.StopOptions) url.Values {
	v := values{}.str("signal", o.Signal)
	if o.Timeout != nil {
		v.str("t", strconv.Itoa(*o.Timeout))
	}
	return url.Values(v)
}

func (c *Client) ContainerStop(ctx context.Context, id string, o engine.StopOptions) error {
	return c.call(ctx, request{
		method: http.MethodPost, path: "/containers/" + id + "/stop", query: stopQuery(o),
		noBody: "container " + id + " is already stopped",
	}, nil)
}

func (c *Client) ContainerRestart(ctx context.Context, id string, o engine.StopOptions) error {
	return c.call(ctx, request{method: http.MethodPost, path: "/containers/" + id + "/restart", query: stopQuery(o)}, nil)
}

func (c *Client) ContainerKill(ctx context.Context, id, signal string) error {
	return c.call(ctx, request{
		method: http.MethodPost, path: "/containers/" + id + "/kill",
		query: url.Values(values{}.str("signal", signal)),
	}, nil)
}

func (c *Client) ContainerPause(ctx context.Context, id string) error {
	return c.call(ctx, request{method: http.MethodPost, path: "/containers/" + id + "/pause"}, nil)
}

func (c *Client) ContainerUnpause(ctx context.Context, id string) error {
	return c.call(ctx, request{method: http.MethodPost, path: "/containers/" + id + "/unpause"}, nil)
}

// ContainerWait returns once the daemon has registered the wait (it sends
// its headers then), so a start that follows cannot race past it.
func (c *Client) ContainerWait(ctx context.Context, id string, cond container.WaitCondition) (<-chan container.WaitResponse, <-chan error) {
	results, errs := make(chan container.WaitResponse, 1), make(chan error, 1)
	resp, err := c.send(ctx, request{
		method: http.MethodPost, path: "/containers/" + id + "/wait",
		query: url.Values(values{}.str("condition", string(cond))),
	})
	if err != nil {
		errs <- err
		return results, errs
	}
	go func() {
		defer resp.Body.Close()
		var r container.WaitResponse
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			} else {
				err = fmt.Errorf("wait for container %s: %w", id, err)
			}
			errs <- err
			return
		}
		if r.Error != nil && r.StatusCode == waitErrorStatus {
			errs <- &engine.Error{Kind: engine.KindUnknown, Msg: r.Error.Message}
			return
		}
		results <- r
	}()
	return results, errs
}

func (c *Client) ContainerRemove(ctx context.Context, id string, o engine.RemoveOptions) error {
	q := values{}.bool("force", o.Force).bool("v", o.RemoveVolumes).bool("link", o.RemoveLinks)
	return c.call(ctx, request{method: http.MethodDelete, path: "/containers/" + id, query: url.Values(q)}, nil)
}

func (c *Client) ContainerList(ctx context.Context, o engine.ListOptions) ([]container.Summary, error) {
	q := values{}.bool("all", o.All).bool("size", o.Size).filters(o.Filters)
	if o.Limit > 0 {
		q.str("limit", strconv.Itoa(o.Limit))
	}
	var list []container.Summary
	err := c.call(ctx, request{method: http.MethodGet, path: "/containers/json", query: url.Values(q)}, &list)
	return list, err
}

func (c *Client) ContainerInspect(ctx context.Context, id string, size bool) (container.InspectResponse, error) {
	var resp container.InspectResponse
	err := c.call(ctx, request{
		method: http.MethodGet, path: "/containers/" + id + "/json",
		query: url.Values(values{}.bool("size", size)),
	}, &resp)
	return resp, err
}

func (c *Client) ContainerLogs(ctx context.Context, id string, o engine.LogsOptions) (io.ReadCloser, error) {
	q := values{}.bool("stdout", o.ShowStdout).bool("stderr", o.ShowStderr).
		bool("follow", o.Follow).bool("timestamps", o.Timestamps).bool("details", o.Details).
		str("since", o.Since).str("until", o.Until).str("tail", o.Tail)
	return c.stream(ctx, request{method: http.MethodGet, path: "/containers/" + id + "/logs", query: url.Values(q)})
}

func (c *Client) ContainerAttach(ctx context.Context, id string, o engine.AttachOptions) (engine.Stream, error) {
	q := values{}.bool("stream", o.Stream).bool("stdin", o.Stdin).bool("stdout", o.Stdout).
		bool("stderr", o.Stderr).bool("logs", o.Logs).str("detachKeys", o.DetachKeys)
	return c.hijack(ctx, request{method: http.MethodPost, path: "/containers/" + id + "/attach", query: url.Values(q)})
}

func sizeQuery(height, width uint) url.Values {
	return url.Values{"h": {strconv.FormatUint(uint64(height), 10)}, "w": {strconv.FormatUint(uint64(width), 10)}}
}

func (c *Client) ContainerResize(ctx context.Context, id string, height, width uint) error {
	return c.call(ctx, request{method: http.MethodPost, path: "/containers/" + id + "/resize", query: sizeQuery(height, width)}, nil)
}

func (c *Client) ContainerTop(ctx context.Context, id, psArgs string) (container.TopResponse, error) {
	var resp container.TopResponse
	err := c.call(ctx, request{
		method: http.MethodGet, path: "/containers/" + id + "/top",
		query: url.Values(values{}.str("ps_args", psArgs)),
	}, &resp)
	return resp, err
}

func (c *Client) ContainerStats(ctx context.Context, id string, stream bool) (io.ReadCloser, error) {
	q := url.Values{"stream": {"0"}}
	if stream {
		q.Set("stream", "1")
	}
	return c.stream(ctx, request{method: http.MethodGet, path: "/containers/" + id + "/stats", query: q})
}

func (c *Client) ContainerRename(ctx context.Context, id, newName string) error {
	return c.call(ctx, request{
		method: http.MethodPost, path: "/containers/" + id + "/rename",
		query: url.Values{"name": {newName}},
	}, nil)
}

func (c *Client) ContainerUpdate(ctx context.Context, id string, u container.UpdateConfig) (container.UpdateResponse, error) {
	var resp container.UpdateResponse
	err := c.call(ctx, request{method: http.MethodPost, path: "/containers/" + id + "/update", json: u}, &resp)
	return resp, err
}

func (c *Client) ContainerChanges(ctx context.Context, id string) ([]container.FilesystemChange, error) {
	var changes []container.FilesystemChange
	err := c.call(ctx, request{method: http.MethodGet, path: "/containers/" + id + "/changes"}, &changes)
	return changes, err
}

func (c *Client) ContainerExport(ctx context.Context, id string) (io.ReadCloser, error) {
	return c.stream(ctx, request{method: http.MethodGet, path: "/containers/" + id + "/export"})
}

// pathStat decodes the X-Docker-Container-Path-Stat header.
func pathStat(h http.Header) (container.PathStat, error) {
	var st container.PathStat
	raw := h.Get(pathStatHeader)
	if raw == "" {
		return st, errors.New("no " + pathStatHeader + " header in the response")
	}
	b, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return st, fmt.Errorf("decode %s header: %w", pathStatHeader, err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("decode %s header: %w", pathStatHeader, err)
	}
	return st, nil
}

func (c *Client) ContainerStatPath(ctx context.Context, id, path string) (container.PathStat, error) {
	resp, err := c.send(ctx, request{
		method: http.MethodHead, path: "/containers/" + id + "/archive",
		query: url.Values{"path": {path}},
		// A HEAD answer has no body to carry the message.
		noBody: "No such container:path: " + id + ":" + path,
	})
	if err != nil {
		return container.PathStat{}, err
	}
	resp.Body.Close()
	st, err := pathStat(resp.Header)
	if err != nil {
		return st, fmt.Errorf("stat %s in container %s: %w", path, id, err)
	}
	return st, nil
}

func (c *Client) CopyFromContainer(ctx context.Context, id, path string) (io.ReadCloser, container.PathStat, error) {
	resp, err := c.send(ctx, request{
		method: http.MethodGet, path: "/containers/" + id + "/archive",
		query: url.Values{"path": {path}},
	})
	if err != nil {
		return nil, container.PathStat{}, err
	}
	st, err := pathStat(resp.Header)
	if err != nil {
		resp.Body.Close()
		return nil, st, fmt.Errorf("copy %s from container %s: %w", path, id, err)
	}
	return resp.Body, st, nil
}

func (c *Client) CopyToContainer(ctx context.Context, id, path string, tar io.Reader, o engine.CopyToOptions) error {
	q := url.Values{"path": {path}}
	if !o.AllowOverwriteDirWithFile {
		q.Set("noOverwriteDirNonDir", "true")
	}
	if o.CopyUIDGID {
		q.Set("copyUIDGID", "true")
	}
	return c.call(ctx, request{
		method: http.MethodPut, path: "/containers/" + id + "/archive", query: q,
		body: tar, contentType: "application/x-tar",
	}, nil)
}

func (c *Client) ContainersPrune(ctx context.Context, f engine.Filters) (container.PruneReport, error) {
	var rep container.PruneReport
	err := c.call(ctx, request{
		method: http.MethodPost, path: "/containers/prune",
		query: url.Values(values{}.filters(f)),
	}, &rep)
	return rep, err
}

func (c *Client) ExecCreate(ctx context.Context, id string, req container.ExecCreateRequest) (container.ExecCreateResponse, error) {
	var resp container.ExecCreateResponse
	err := c.call(ctx, request{method: http.MethodPost, path: "/containers/" + id + "/exec", json: req}, &resp)
	return resp, err
}

func (c *Client) ExecStart(ctx context.Context, execID string, req container.ExecStartRequest) (engine.Stream, error) {
	r := request{method: http.MethodPost, path: "/exec/" + execID + "/start", json: req}
	if req.Detach {
		return nil, c.call(ctx, r, nil)
	}
	return c.hijack(ctx, r)
}

func (c *Client) ExecInspect(ctx context.Context, execID string) (container.ExecInspectResponse, error) {
	var resp container.ExecInspectResponse
	err := c.call(ctx, request{method: http.MethodGet, path: "/exec/" + execID + "/json"}, &resp)
	return resp, err
}

func (c *Client) ExecResize(ctx context.Context, execID string, height, width uint) error {
	return c.call(ctx, request{method: http.MethodPost, path: "/exec/" + execID + "/resize", query: sizeQuery(height, width)}, nil)
}
