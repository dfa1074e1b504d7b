package dockerapi

import (
	"net/http"

	"github.com/moby/moby/api/types/swarm"
)

// Secrets and configs on swarm's routes, served by the standalone engine:
// GET /secrets?filters=, POST /secrets/create (201 {"ID"}), GET and
// DELETE /secrets/{id}; the same for /configs. A secret's Data is never
// sent back.

func (h *handler) secretList(c *call) error {
	f := c.q.filters()
	if c.q.err != nil {
		return c.q.err
	}
	list, err := h.api.SecretList(c.ctx, f)
	if err != nil {
		return err
	}
	if list == nil {
		list = []swarm.Secret{}
	}
	for i := range list {
		list[i].Spec.Data = nil
	}
	return writeJSON(c.w, http.StatusOK, list)
}

func (h *handler) secretCreate(c *call) error {
	var spec swarm.SecretSpec
	if _, err := readJSON(c.r, &spec); err != nil {
		return err
	}
	resp, err := h.api.SecretCreate(c.ctx, spec)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusCreated, resp)
}

func (h *handler) secretInspect(c *call) error {
	s, err := h.api.SecretInspect(c.ctx, c.name)
	if err != nil {
		return err
	}
	s.Spec.Data = nil
	return writeJSON(c.w, http.StatusOK, s)
}

func (h *handler) secretRemove(c *call) error {
	if err := h.api.SecretRemove(c.ctx, c.name); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) configList(c *call) error {
	f := c.q.filters()
	if c.q.err != nil {
		return c.q.err
	}
	list, err := h.api.ConfigList(c.ctx, f)
	if err != nil {
		return err
	}
	if list == nil {
		list = []swarm.Config{}
	}
	return writeJSON(c.w, http.StatusOK, list)
}

func (h *handler) configCreate(c *call) error {
	var spec swarm.ConfigSpec
	if _, err := readJSON(c.r, &spec); err != nil {
		return err
	}
	resp, err := h.api.ConfigCreate(c.ctx, spec)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusCreated, resp)
}

func (h *handler) configInspect(c *call) error {
	cfg, err := h.api.ConfigInspect(c.ctx, c.name)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, cfg)
}

func (h *handler) configRemove(c *call) error {
	if err := h.api.ConfigRemove(c.ctx, c.name); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}
