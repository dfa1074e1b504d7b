package dockerapi

import (
	"net/http"
	"strings"

	"github.com/moby/moby/api/types/network"

	"github.com/berth-project/berth/engine"
)

// networkList is GET /networks (and /networks/): the filters (dangling,
// driver, id, label, name, scope, type) go to the engine as they came,
// which checks them as docker's daemon does.
func (h *handler) networkList(c *call) error {
	f := c.q.filters()
	if c.q.err != nil {
		return c.q.err
	}
	list, err := h.api.NetworkList(c.ctx, f)
	if err != nil {
		return err
	}
	if list == nil {
		list = []network.Summary{}
	}
	for i := range list {
		fillNetwork(&list[i].Network)
	}
	return writeJSON(c.w, http.StatusOK, list)
}

// fillNetwork gives a network's maps docker's empty values ({}, not null)
// where the engine left them nil.
func fillNetwork(n *network.Network) {
	if n.Options == nil {
		n.Options = map[string]string{}
	}
	if n.Labels == nil {
		n.Labels = map[string]string{}
	}
}

func (h *handler) networkInspect(c *call) error {
	o := engine.NetworkInspectOptions{Verbose: c.q.bool("verbose"), Scope: c.q.str("scope")}
	if c.q.err != nil {
		return c.q.err
	}
	switch o.Scope {
	case "", "local", "global", "swarm":
	default:
		return engine.Invalid("invalid scope value: %q", o.Scope)
	}
	nw, err := h.api.NetworkInspect(c.ctx, c.name, o)
	if err != nil {
		return err
	}
	fillNetwork(&nw.Network)
	if nw.Containers == nil {
		nw.Containers = map[string]network.EndpointResource{}
	}
	return writeJSON(c.w, http.StatusOK, nw)
}

// networkCreate is POST /networks/create. Docker's older clients also send
// CheckDuplicate, which the decoder ignores (names are always unique).
func (h *handler) networkCreate(c *call) error {
	var req network.CreateRequest
	if _, err := readJSON(c.r, &req); err != nil {
		return err
	}
	if compareVersions(c.version, "1.48") < 0 {
		// EnableIPv4 came with API 1.48: older clients cannot mean it.
		req.EnableIPv4 = nil
	}
	resp, err := h.api.NetworkCreate(c.ctx, req)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusCreated, resp)
}

// blankNetwork refuses an empty network ref in the path.
func blankNetwork(c *call) error {
	if strings.TrimSpace(c.name) == "" {
		return engine.Invalid("invalid network name or ID: value is empty")
	}
	return nil
}

func (h *handler) networkRemove(c *call) error {
	if err := blankNetwork(c); err != nil {
		return err
	}
	if err := h.api.NetworkRemove(c.ctx, c.name); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) networkConnect(c *call) error {
	if err := blankNetwork(c); err != nil {
		return err
	}
	var req network.ConnectRequest
	if _, err := readJSON(c.r, &req); err != nil {
		return err
	}
	if err := h.api.NetworkConnect(c.ctx, c.name, req); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusOK)
	return nil
}

func (h *handler) networkDisconnect(c *call) error {
	if err := blankNetwork(c); err != nil {
		return err
	}
	var req network.DisconnectRequest
	if _, err := readJSON(c.r, &req); err != nil {
		return err
	}
	if err := h.api.NetworkDisconnect(c.ctx, c.name, req); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusOK)
	return nil
}

func (h *handler) networksPrune(c *call) error {
	f := c.q.filters()
	if c.q.err != nil {
		return c.q.err
	}
	rep, err := h.api.NetworksPrune(c.ctx, f)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, rep)
}
