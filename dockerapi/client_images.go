package dockerapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/registry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/engine"
)

func authHeaders(auth string) http.Header {
	if auth == "" {
		return nil
	}
	return http.Header{authHeader: {auth}}
}

// ImagePull asks for ref as docker's client does: fromImage is the
// repository and tag the tag or digest ("latest" when ref has neither),
// or no tag at all for every tag (o.All).
func (c *Client) ImagePull(ctx context.Context, ref string, o engine.PullRequest) (io.ReadCloser, error) {
	repo, tag := splitRef(ref)
	q := values{}.str("fromImage", repo).str("platform", o.Platform)
	if !o.All {
		if tag == "" {
			tag = "latest"
		}
		q.str("tag", tag)
	}
	return c.stream(ctx, request{
		method: http.MethodPost, path: "/images/create", query: url.Values(q),
		header: authHeaders(o.RegistryAuth),
	})
}

func (c *Client) ImageList(ctx context.Context, o engine.ImageListOptions) ([]image.Summary, error) {
	q := values{}.bool("all", o.All).bool("digests", o.Digests).filters(o.Filters)
	var list []image.Summary
	err := c.call(ctx, request{method: http.MethodGet, path: "/images/json", query: url.Values(q)}, &list)
	return list, err
}

func (c *Client) ImageInspect(ctx context.Context, name string) (image.InspectResponse, error) {
	var resp image.InspectResponse
	err := c.call(ctx, request{method: http.MethodGet, path: "/images/" + name + "/json"}, &resp)
	return resp, err
}

func (c *Client) ImageHistory(ctx context.Context, name string) ([]image.HistoryResponseItem, error) {
	var hist []image.HistoryResponseItem
	err := c.call(ctx, request{method: http.MethodGet, path: "/images/" + name + "/history"}, &hist)
	return hist, err
}

func (c *Client) ImageTag(ctx context.Context, source, target string) error {
	repo, tag := splitRef(target)
	q := values{}.str("repo", repo).str("tag", tag)
	return c.call(ctx, request{method: http.MethodPost, path: "/images/" + source + "/tag", query: url.Values(q)}, nil)
}

// ImagePush pushes ref's tag ("latest" when it has none), or every tag
// of the repository (o.All).
func (c *Client) ImagePush(ctx context.Context, ref string, o engine.PushRequest) (io.ReadCloser, error) {
	repo, tag := splitRef(ref)
	q := values{}
	if !o.All {
		if tag == "" {
			tag = "latest"
		}
		q.str("tag", tag)
	}
	if o.Platform != "" {
		// Docker's form: the JSON of an OCI platform.
		parts := strings.SplitN(o.Platform, "/", 3)
		p := ocispec.Platform{OS: parts[0]}
		if len(parts) > 1 {
			p.Architecture = parts[1]
		}
		if len(parts) > 2 {
			p.Variant = parts[2]
		}
		b, _ := json.Marshal(p) // strings always marshal
		q.str("platform", string(b))
	}
	return c.stream(ctx, request{
		method: http.MethodPost, path: "/images/" + repo + "/push", query: url.Values(q),
		header: authHeaders(o.RegistryAuth),
	})
}

func (c *Client) ImageRemove(ctx context.Context, name string, o engine.ImageRemoveOptions) ([]image.DeleteResponse, error) {
	q := values{}.bool("force", o.Force).bool("noprune", o.NoPrune)
	var list []image.DeleteResponse
	err := c.call(ctx, request{method: http.MethodDelete, path: "/images/" + name, query: url.Values(q)}, &list)
	return list, err
}

func (c *Client) ImagesPrune(ctx context.Context, f engine.Filters) (image.PruneReport, error) {
	var rep image.PruneReport
	err := c.call(ctx, request{method: http.MethodPost, path: "/images/prune", query: url.Values(values{}.filters(f))}, &rep)
	return rep, err
}

func (c *Client) ImageSave(ctx context.Context, names []string) (io.ReadCloser, error) {
	return c.stream(ctx, request{method: http.MethodGet, path: "/images/get", query: url.Values{"names": names}})
}

func (c *Client) ImageLoad(ctx context.Context, tar io.Reader, quiet bool) (io.ReadCloser, error) {
	q := url.Values{"quiet": {"0"}}
	if quiet {
		q.Set("quiet", "1")
	}
	return c.stream(ctx, request{
		method: http.MethodPost, path: "/images/load", query: q,
		body: tar, contentType: "application/x-tar",
	})
}

func (c *Client) ImageSearch(ctx context.Context, term string, o engine.SearchRequest) ([]registry.SearchResult, error) {
	q := values{}.str("term", term).filters(o.Filters)
	if o.Limit > 0 {
		q.str("limit", strconv.Itoa(o.Limit))
	}
	var res []registry.SearchResult
	err := c.call(ctx, request{
		method: http.MethodGet, path: "/images/search", query: url.Values(q),
		header: authHeaders(o.RegistryAuth),
	}, &res)
	return res, err
}
