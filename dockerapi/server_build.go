package dockerapi

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/moby/moby/api/types/container"

	"github.com/berth-project/berth/engine"
)

// build is POST /build: the classic builder's query, the context tar as
// the body, the build's stream as the answer.
func (h *handler) build(c *call) error {
	o := engine.BuildOptions{
		Tags:        c.q.v["t"],
		Dockerfile:  c.q.str("dockerfile"),
		Target:      c.q.str("target"),
		NoCache:     c.q.bool("nocache"),
		Pull:        c.q.bool("pull"),
		Quiet:       c.q.bool("q"),
		Remove:      c.q.boolDefault("rm", true),
		ForceRemove: c.q.bool("forcerm"),
		NetworkMode: c.q.str("networkmode"),
		Platform:    c.q.str("platform"),
		Remote:      c.q.str("remote"),
		ExtraHosts:  c.q.v["extrahosts"],
	}
	if v := c.q.str("version"); v == "2" {
		return engine.Invalid("BuildKit is not supported by this daemon: build with DOCKER_BUILDKIT=0 (the classic builder)")
	}
	if s := c.q.str("shmsize"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return engine.Invalid("invalid shmsize %q", s)
		}
		o.ShmSize = n
	}
	for k, dst := range map[string]any{"buildargs": &o.BuildArgs, "labels": &o.Labels, "cachefrom": &o.CacheFrom} {
		if s := c.q.str(k); s != "" {
			if err := json.Unmarshal([]byte(s), dst); err != nil {
				return engine.Invalid("invalid %s: %v", k, err)
			}
		}
	}
	if c.q.err != nil {
		return c.q.err
	}
	if o.Remote != "" {
		return engine.Errorf(engine.KindNotImplemented, "remote build contexts are not supported: send the context as the request body")
	}
	// The builder reads the context while its output goes out.
	_ = http.NewResponseController(c.w).EnableFullDuplex()
	rc, err := h.api.ImageBuild(c.ctx, c.r.Body, o)
	if err != nil {
		return err
	}
	return stream(c.w, "application/json", rc)
}

// buildPrune is POST /build/prune.
func (h *handler) buildPrune(c *call) error {
	o := engine.BuildCachePruneOptions{All: c.q.bool("all"), Filters: c.q.filters()}
	for _, k := range []string{"reserved-space", "keep-storage"} {
		if s := c.q.str(k); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return engine.Invalid("invalid %s %q", k, s)
			}
			o.KeepStorage = n
		}
	}
	if c.q.err != nil {
		return c.q.err
	}
	rep, err := h.api.BuildCachePrune(c.ctx, o)
	if err != nil {
		return err
	}
	if rep.CachesDeleted == nil {
		rep.CachesDeleted = []string{}
	}
	return writeJSON(c.w, http.StatusOK, rep)
}

// commit is POST /commit: docker commit.
func (h *handler) commit(c *call) error {
	o := engine.CommitOptions{
		Comment: c.q.str("comment"),
		Author:  c.q.str("author"),
		Changes: c.q.v["changes"],
		Pause:   c.q.boolDefault("pause", true),
	}
	if repo := c.q.str("repo"); repo != "" {
		o.Reference = repo
		if tag := c.q.str("tag"); tag != "" {
			o.Reference = joinRef(repo, tag)
		}
	}
	if c.q.err != nil {
		return c.q.err
	}
	var cfg container.Config
	present, err := readJSON(c.r, &cfg)
	if err != nil {
		return err
	}
	if present {
		o.Config = &cfg
	}
	resp, err := h.api.ContainerCommit(c.ctx, c.q.str("container"), o)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusCreated, resp)
}
