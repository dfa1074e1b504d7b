package dockerapi

import (
	"net/http"
	"strings"

	"github.com/moby/moby/api/types/volume"

	"github.com/berth-project/berth/engine"
)

// volumeList is GET /volumes: the filters (dangling, driver, label, name)
// go to the engine as they came; the answer has docker's empty lists.
func (h *handler) volumeList(c *call) error {
	f := c.q.filters()
	if c.q.err != nil {
		return c.q.err
	}
	resp, err := h.api.VolumeList(c.ctx, f)
	if err != nil {
		return err
	}
	if resp.Volumes == nil {
		resp.Volumes = []volume.Volume{}
	}
	if resp.Warnings == nil {
		resp.Warnings = []string{}
	}
	return writeJSON(c.w, http.StatusOK, resp)
}

// volumeCreate is POST /volumes/create: 201 and the volume.
func (h *handler) volumeCreate(c *call) error {
	var req volume.CreateRequest
	if _, err := readJSON(c.r, &req); err != nil {
		return err
	}
	v, err := h.api.VolumeCreate(c.ctx, req)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusCreated, v)
}

// blankVolume refuses an empty volume name in the path.
func blankVolume(c *call) error {
	if strings.TrimSpace(c.name) == "" {
		return engine.Invalid("invalid volume name or ID: value is empty")
	}
	return nil
}

func (h *handler) volumeInspect(c *call) error {
	if err := blankVolume(c); err != nil {
		return err
	}
	v, err := h.api.VolumeInspect(c.ctx, c.name)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, v)
}

// volumeRemove is DELETE /volumes/{name}?force=: 204.
func (h *handler) volumeRemove(c *call) error {
	if err := blankVolume(c); err != nil {
		return err
	}
	force := c.q.bool("force")
	if c.q.err != nil {
		return c.q.err
	}
	if err := h.api.VolumeRemove(c.ctx, c.name, force); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

// volumesPrune is POST /volumes/prune. Before API 1.42 prune removed every
// unused volume, not only anonymous ones: older clients get filter
// all=true, as docker's daemon gives them.
func (h *handler) volumesPrune(c *call) error {
	f := c.q.filters()
	if c.q.err != nil {
		return c.q.err
	}
	if compareVersions(c.version, "1.42") < 0 && len(f["all"]) == 0 {
		if f == nil {
			f = engine.Filters{}
		}
		f["all"] = []string{"true"}
	}
	rep, err := h.api.VolumesPrune(c.ctx, f)
	if err != nil {
		return err
	}
	if rep.VolumesDeleted == nil {
		rep.VolumesDeleted = []string{}
	}
	return writeJSON(c.w, http.StatusOK, rep)
}
