package dockerapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"

	"github.com/moby/moby/api/types"
	"github.com/moby/moby/api/types/container"

	"github.com/berth-project/berth/engine"
)

func (h *handler) containerCreate(c *call) error {
	name := c.q.str("name")
	_ = c.q.str("platform") // the engine picks the image's platform
	if c.q.err != nil {
		return c.q.err
	}
	var req engine.CreateRequest
	ok, err := readJSON(c.r, &req)
	if err != nil {
		return err
	}
	if !ok || req.Config == nil {
		return engine.Invalid("config cannot be empty in order to create a container")
	}
	resp, err := h.api.ContainerCreate(c.ctx, name, req)
	if err != nil {
		return err
	}
	if resp.Warnings == nil {
		resp.Warnings = []string{}
	}
	return writeJSON(c.w, http.StatusCreated, resp)
}

func (h *handler) containerStart(c *call) error {
	if err := h.api.ContainerStart(c.ctx, c.name); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

// stopOptions reads stop's and restart's signal and timeout (t, or
// timeout as some clients spell it).
func stopOptions(q *query) engine.StopOptions {
	o := engine.StopOptions{Signal: q.str("signal"), Timeout: q.intPtr("t")}
	if o.Timeout == nil {
		o.Timeout = q.intPtr("timeout")
	}
	return o
}

func (h *handler) containerStop(c *call) error {
	o := stopOptions(c.q)
	if c.q.err != nil {
		return c.q.err
	}
	if err := h.api.ContainerStop(c.ctx, c.name, o); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) containerRestart(c *call) error {
	o := stopOptions(c.q)
	if c.q.err != nil {
		return c.q.err
	}
	if err := h.api.ContainerRestart(c.ctx, c.name, o); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) containerKill(c *call) error {
	if err := h.api.ContainerKill(c.ctx, c.name, c.q.str("signal")); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) containerPause(c *call) error {
	if err := h.api.ContainerPause(c.ctx, c.name); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) containerUnpause(c *call) error {
	if err := h.api.ContainerUnpause(c.ctx, c.name); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

// waitErrorStatus is the StatusCode of a WaitResponse that carries a wait
// that ended in an error rather than an exit (docker's -1 with Error).
const waitErrorStatus = -1

func (h *handler) containerWait(c *call) error {
	cond := container.WaitConditionNotRunning
	switch v := container.WaitCondition(c.q.str("condition")); v {
	case "":
	case container.WaitConditionNotRunning, container.WaitConditionNextExit, container.WaitConditionRemoved:
		cond = v
	default:
		return engine.Invalid("invalid condition: %q", string(v))
	}
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	// The engine has registered the wait when this returns; a failed
	// registration is already on errs.
	res, errs := h.api.ContainerWait(ctx, c.name, cond)
	select {
	case err := <-errs:
		if err != nil {
			return err
		}
	default:
	}
	// Headers now, as docker does since 1.30: a client that waits for
	// them before starting the container must not deadlock.
	c.w.Header().Set("Content-Type", "application/json")
	c.w.WriteHeader(http.StatusOK)
	c.w.Flush()
	var out container.WaitResponse
wait:
	for {
		select {
		case r, ok := <-res:
			if !ok {
				res = nil
				continue
			}
			out = r
			break wait
		case err := <-errs:
			if err == nil {
				errs = nil // the result follows
				continue
			}
			out = container.WaitResponse{StatusCode: waitErrorStatus, Error: &container.WaitExitError{Message: err.Error()}}
			break wait
		case <-c.ctx.Done():
			return nil
		}
	}
	return json.NewEncoder(c.w).Encode(out)
}

func (h *handler) containerRemove(c *call) error {
	o := engine.RemoveOptions{Force: c.q.bool("force"), RemoveVolumes: c.q.bool("v"), RemoveLinks: c.q.bool("link")}
	if c.q.err != nil {
		return c.q.err
	}
	if err := h.api.ContainerRemove(c.ctx, c.name, o); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) containerList(c *call) error {
	o := engine.ListOptions{
		All:     c.q.bool("all"),
		Limit:   c.q.int("limit", 0),
		Size:    c.q.bool("size"),
		Filters: c.q.filters(),
	}
	if c.q.err != nil {
		return c.q.err
	}
	list, err := h.api.ContainerList(c.ctx, o)
	if err != nil {
		return err
	}
	if list == nil {
		list = []container.Summary{}
	}
	return writeJSON(c.w, http.StatusOK, list)
}

func (h *handler) containerInspect(c *call) error {
	size := c.q.bool("size")
	if c.q.err != nil {
		return c.q.err
	}
	resp, err := h.api.ContainerInspect(c.ctx, c.name, size)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, resp)
}

// ttyOf tells whether the container has a TTY, which decides between raw
// and multiplexed output.
func (h *handler) ttyOf(ctx context.Context, id string) (bool, error) {
	resp, err := h.api.ContainerInspect(ctx, id, false)
	if err != nil {
		return false, err
	}
	return resp.Config != nil && resp.Config.Tty, nil
}

// outputType is the Content-Type of attach, exec and logs output: raw
// bytes with a TTY, else stdcopy frames (announced as such since 1.42).
func outputType(tty bool, version string) string {
	if !tty && versionAtLeast(version, "1.42") {
		return types.MediaTypeMultiplexedStream
	}
	return types.MediaTypeRawStream
}

func (h *handler) containerLogs(c *call) error {
	o := engine.LogsOptions{
		ShowStdout: c.q.bool("stdout"),
		ShowStderr: c.q.bool("stderr"),
		Follow:     c.q.bool("follow"),
		Timestamps: c.q.bool("timestamps"),
		Since:      c.q.timestamp("since"),
		Until:      c.q.timestamp("until"),
		Tail:       c.q.tail(),
		Details:    c.q.bool("details"),
	}
	if c.q.err != nil {
		return c.q.err
	}
	if !o.ShowStdout && !o.ShowStderr {
		return engine.Invalid("Bad parameters: you must choose at least one stream")
	}
	tty, err := h.ttyOf(c.ctx, c.name)
	if err != nil {
		return err
	}
	rc, err := h.api.ContainerLogs(c.ctx, c.name, o)
	if err != nil {
		return err
	}
	return stream(c.w, outputType(tty, c.version), rc)
}

func (h *handler) containerAttach(c *call) error {
	o := engine.AttachOptions{
		Stream:     c.q.bool("stream"),
		Stdin:      c.q.bool("stdin"),
		Stdout:     c.q.bool("stdout"),
		Stderr:     c.q.bool("stderr"),
		Logs:       c.q.bool("logs"),
		DetachKeys: c.q.str("detachKeys"),
	}
	if c.q.err != nil {
		return c.q.err
	}
	tty, err := h.ttyOf(c.ctx, c.name)
	if err != nil {
		return err
	}
	// The attachment outlives this request's context when the API server
	// shuts down: it ends when either side closes.
	s, err := h.api.ContainerAttach(context.WithoutCancel(c.ctx), c.name, o)
	if err != nil {
		return err
	}
	return hijack(c, s, outputType(tty, c.version))
}

func (h *handler) containerAttachWS(c *call) error {
	return engine.Errorf(engine.KindNotImplemented, "attaching over a websocket is not supported: use POST /containers/%s/attach", c.name)
}

func (h *handler) containerResize(c *call) error {
	height, width := c.q.size("h", "height"), c.q.size("w", "width")
	if c.q.err != nil {
		return c.q.err
	}
	if err := h.api.ContainerResize(c.ctx, c.name, height, width); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusOK)
	return nil
}

func (h *handler) containerTop(c *call) error {
	resp, err := h.api.ContainerTop(c.ctx, c.name, c.q.str("ps_args"))
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, resp)
}

func (h *handler) containerStats(c *call) error {
	streaming := c.q.boolDefault("stream", true)
	_ = c.q.bool("one-shot") // a single sample either way without stream
	if c.q.err != nil {
		return c.q.err
	}
	rc, err := h.api.ContainerStats(c.ctx, c.name, streaming)
	if err != nil {
		return err
	}
	return stream(c.w, "application/json", rc)
}

func (h *handler) containerRename(c *call) error {
	if err := h.api.ContainerRename(c.ctx, c.name, c.q.str("name")); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) containerUpdate(c *call) error {
	var u container.UpdateConfig
	if _, err := readJSON(c.r, &u); err != nil {
		return err
	}
	resp, err := h.api.ContainerUpdate(c.ctx, c.name, u)
	if err != nil {
		return err
	}
	if resp.Warnings == nil {
		resp.Warnings = []string{}
	}
	return writeJSON(c.w, http.StatusOK, resp)
}

func (h *handler) containerChanges(c *call) error {
	changes, err := h.api.ContainerChanges(c.ctx, c.name)
	if err != nil {
		return err
	}
	if changes == nil {
		changes = []container.FilesystemChange{}
	}
	return writeJSON(c.w, http.StatusOK, changes)
}

func (h *handler) containerExport(c *call) error {
	rc, err := h.api.ContainerExport(c.ctx, c.name)
	if err != nil {
		return err
	}
	return stream(c.w, "application/x-tar", rc)
}

// pathStatHeader carries an archive's PathStat: base64 of its JSON.
const pathStatHeader = "X-Docker-Container-Path-Stat"

func setPathStat(h http.Header, st container.PathStat) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	h.Set(pathStatHeader, base64.StdEncoding.EncodeToString(b))
	return nil
}

func archivePath(c *call) (string, error) {
	p := c.q.str("path")
	if p == "" {
		return "", engine.Invalid("bad parameter: path cannot be empty")
	}
	return p, nil
}

func (h *handler) containerStatPath(c *call) error {
	p, err := archivePath(c)
	if err != nil {
		return err
	}
	st, err := h.api.ContainerStatPath(c.ctx, c.name, p)
	if err != nil {
		return err
	}
	if err := setPathStat(c.w.Header(), st); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusOK)
	return nil
}

func (h *handler) copyFromContainer(c *call) error {
	p, err := archivePath(c)
	if err != nil {
		return err
	}
	rc, st, err := h.api.CopyFromContainer(c.ctx, c.name, p)
	if err != nil {
		return err
	}
	if err := setPathStat(c.w.Header(), st); err != nil {
		rc.Close()
		return err
	}
	return stream(c.w, "application/x-tar", rc)
}

func (h *handler) copyToContainer(c *call) error {
	p, err := archivePath(c)
	if err != nil {
		return err
	}
	o := engine.CopyToOptions{
		AllowOverwriteDirWithFile: !c.q.bool("noOverwriteDirNonDir"),
		CopyUIDGID:                c.q.bool("copyUIDGID"),
	}
	if c.q.err != nil {
		return c.q.err
	}
	if err := h.api.CopyToContainer(c.ctx, c.name, p, c.r.Body, o); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusOK)
	return nil
}

func (h *handler) containersPrune(c *call) error {
	f := c.q.filters()
	if c.q.err != nil {
		return c.q.err
	}
	rep, err := h.api.ContainersPrune(c.ctx, f)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, rep)
}

func (h *handler) execCreate(c *call) error {
	var req container.ExecCreateRequest
	if _, err := readJSON(c.r, &req); err != nil {
		return err
	}
	if len(req.Cmd) == 0 {
		return engine.Invalid("No exec command specified")
	}
	resp, err := h.api.ExecCreate(c.ctx, c.name, req)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusCreated, resp)
}

func (h *handler) execStart(c *call) error {
	var req container.ExecStartRequest
	if _, err := readJSON(c.r, &req); err != nil {
		return err
	}
	if !req.Tty {
		req.ConsoleSize = nil // no console without a TTY
	}
	s, err := h.api.ExecStart(context.WithoutCancel(c.ctx), c.name, req)
	if err != nil {
		return err
	}
	if req.Detach {
		if s != nil {
			s.Close()
		}
		c.w.WriteHeader(http.StatusOK)
		return nil
	}
	if s == nil {
		return engine.Errorf(engine.KindUnknown, "exec %s started without a stream to attach to", c.name)
	}
	return hijack(c, s, outputType(req.Tty, c.version))
}

func (h *handler) execResize(c *call) error {
	height, width := c.q.size("h", "height"), c.q.size("w", "width")
	if c.q.err != nil {
		return c.q.err
	}
	if err := h.api.ExecResize(c.ctx, c.name, height, width); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusOK)
	return nil
}

func (h *handler) execInspect(c *call) error {
	resp, err := h.api.ExecInspect(c.ctx, c.name)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, resp)
}
