package dockerapi

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/api/types/volume"

	"github.com/berth-project/berth/engine"
)

func (h *handler) ping(c *call) error {
	p, err := h.api.Ping(c.ctx)
	if err != nil {
		return err
	}
	hdr := c.w.Header()
	if p.OSType != "" {
		hdr.Set("Ostype", p.OSType)
	}
	hdr.Set("Cache-Control", "no-cache, no-store, must-revalidate")
	hdr.Set("Pragma", "no-cache")
	hdr.Set("Builder-Version", "1")
	hdr.Set("Swarm", "inactive")
	hdr.Set("Content-Type", "text/plain; charset=utf-8")
	if c.r.Method == http.MethodHead {
		hdr.Set("Content-Length", "0")
		c.w.WriteHeader(http.StatusOK)
		return nil
	}
	_, err = c.w.Write([]byte("OK"))
	return err
}

func (h *handler) version(c *call) error {
	v, err := h.api.Version(c.ctx)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, v)
}

func (h *handler) info(c *call) error {
	info, err := h.api.Info(c.ctx)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, info)
}

func (h *handler) diskUsage(c *call) error {
	du, err := h.api.DiskUsage(c.ctx)
	if err != nil {
		return err
	}
	if c.version != "" && !versionAtLeast(c.version, "1.52") {
		return writeJSON(c.w, http.StatusOK, legacyDiskUsage(du))
	}
	return writeJSON(c.w, http.StatusOK, du)
}

// legacyDF is /system/df as API versions before 1.52 shape it (docker
// CLIs up to 28 read only these fields), beside the current shape (which
// our own client reads at any version).
type legacyDF struct {
	system.DiskUsage
	LayersSize int64
	Images     []image.Summary
	Containers []container.Summary
	Volumes    []volume.Volume
	BuildCache []build.CacheRecord
}

func legacyDiskUsage(du system.DiskUsage) legacyDF {
	out := legacyDF{DiskUsage: du, Images: []image.Summary{}, Containers: []container.Summary{}, Volumes: []volume.Volume{}, BuildCache: []build.CacheRecord{}}
	if u := du.ImageUsage; u != nil {
		out.LayersSize = u.TotalSize
		out.Images = append(out.Images, u.Items...)
	}
	if u := du.ContainerUsage; u != nil {
		out.Containers = append(out.Containers, u.Items...)
	}
	if u := du.VolumeUsage; u != nil {
		out.Volumes = append(out.Volumes, u.Items...)
	}
	if u := du.BuildCacheUsage; u != nil {
		out.BuildCache = append(out.BuildCache, u.Items...)
	}
	return out
}

// legacyEvent adds the fields docker still sends to clients older than API
// 1.52 (id, status, from), which docker CLIs before 25.0 need.
type legacyEvent struct {
	Status string `json:"status,omitempty"`
	ID     string `json:"id,omitempty"`
	From   string `json:"from,omitempty"`
	events.Message
}

func withLegacy(m events.Message) any {
	switch m.Type {
	case events.ContainerEventType:
		return legacyEvent{Status: string(m.Action), ID: m.Actor.ID, From: m.Actor.Attributes["image"], Message: m}
	case events.ImageEventType:
		return legacyEvent{Status: string(m.Action), ID: m.Actor.ID, Message: m}
	}
	return m
}

// events is GET /events: one JSON event per line, flushed as it comes,
// until the client goes, the engine ends the stream, or until passes.
func (h *handler) events(c *call) error {
	o := engine.EventsOptions{
		Since:   c.q.timestamp("since"),
		Until:   c.q.timestamp("until"),
		Filters: c.q.filters(),
	}
	if c.q.err != nil {
		return c.q.err
	}
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	msgs, errs := h.api.Events(ctx, o)
	// An error the engine found in the arguments is already there.
	ended := false
	select {
	case err := <-errs:
		if err != nil {
			return err
		}
		ended = true
	default:
	}
	c.w.Header().Set("Content-Type", "application/json")
	c.w.WriteHeader(http.StatusOK)
	c.w.Flush()
	enc := json.NewEncoder(flushWriter{c.w})
	enc.SetEscapeHTML(false)
	// drain sends what the engine queued before it ended the stream.
	drain := func(end error) error {
		for {
			select {
			case m, ok := <-msgs:
				if !ok {
					return end
				}
				if err := enc.Encode(withLegacy(m)); err != nil {
					return err
				}
			default:
				return end
			}
		}
	}
	if ended {
		return drain(nil)
	}
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				return nil
			}
			if err := enc.Encode(withLegacy(m)); err != nil {
				return err
			}
		case err := <-errs:
			return drain(err)
		case <-ctx.Done():
			return nil
		}
	}
}
