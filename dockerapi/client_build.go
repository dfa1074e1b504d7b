package dockerapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"

	"github.com/berth-project/berth/engine"
)

// ImageBuild posts the context to /build as docker's CLI does with the
// classic builder (version=1) and hands back the stream.
func (c *Client) ImageBuild(ctx context.Context, buildContext io.Reader, o engine.BuildOptions) (io.ReadCloser, error) {
	q := values{}.str("dockerfile", o.Dockerfile).str("target", o.Target).
		bool("nocache", o.NoCache).bool("pull", o.Pull).bool("q", o.Quiet).bool("forcerm", o.ForceRemove).
		str("networkmode", o.NetworkMode).str("platform", o.Platform).str("remote", o.Remote).str("version", "1")
	u := url.Values(q)
	u.Set("rm", "0")
	if o.Remove || o.ForceRemove {
		u.Set("rm", "1")
	}
	for _, t := range o.Tags {
		u.Add("t", t)
	}
	for _, h := range o.ExtraHosts {
		u.Add("extrahosts", h)
	}
	if o.ShmSize > 0 {
		u.Set("shmsize", strconv.FormatInt(o.ShmSize, 10))
	}
	for k, v := range map[string]any{"buildargs": o.BuildArgs, "labels": o.Labels, "cachefrom": o.CacheFrom} {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		if s := string(b); s != "null" && s != "{}" && s != "[]" {
			u.Set(k, s)
		}
	}
	return c.stream(ctx, request{
		method: http.MethodPost, path: "/build", query: u,
		body: buildContext, contentType: "application/x-tar",
	})
}

// BuildCachePrune posts to /build/prune.
func (c *Client) BuildCachePrune(ctx context.Context, o engine.BuildCachePruneOptions) (build.CachePruneReport, error) {
	q := values{}.bool("all", o.All).filters(o.Filters)
	if o.KeepStorage > 0 {
		q.str("reserved-space", strconv.FormatInt(o.KeepStorage, 10))
	}
	var rep build.CachePruneReport
	err := c.call(ctx, request{method: http.MethodPost, path: "/build/prune", query: url.Values(q)}, &rep)
	return rep, err
}

// ContainerCommit posts to /commit.
func (c *Client) ContainerCommit(ctx context.Context, id string, o engine.CommitOptions) (container.CommitResponse, error) {
	q := values{}.str("container", id).str("comment", o.Comment).str("author", o.Author)
	u := url.Values(q)
	if o.Reference != "" {
		repo, tag := splitRef(o.Reference)
		u.Set("repo", repo)
		if tag != "" {
			u.Set("tag", tag)
		}
	}
	for _, ch := range o.Changes {
		u.Add("changes", ch)
	}
	u.Set("pause", "0")
	if o.Pause {
		u.Set("pause", "1")
	}
	cfg := o.Config
	if cfg == nil {
		cfg = &container.Config{}
	}
	var resp container.CommitResponse
	err := c.call(ctx, request{method: http.MethodPost, path: "/commit", query: u, json: cfg}, &resp)
	return resp, err
}
