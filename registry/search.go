package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// SearchResult is a registry's answer to a search, in docker's v1 search
// JSON.
type SearchResult struct {
	NumResults int           `json:"num_results"`
	NumPages   int           `json:"num_pages"`
	Page       int           `json:"page"`
	PageSize   int           `json:"page_size"`
	Query      string        `json:"query"`
	Results    []SearchEntry `json:"results"`
}

// SearchEntry is one repository a search found. TagCount is berth's
// registry's addition (Docker Hub does not send it).
type SearchEntry struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	StarCount   int    `json:"star_count"`
	IsOfficial  bool   `json:"is_official"`
	IsAutomated bool   `json:"is_automated"`
	TagCount    int    `json:"tag_count,omitempty"`
}

// maxSearchBody bounds what the client reads of a search answer.
const maxSearchBody = 16 << 20

// Search asks the registry on host for repositories matching term, at
// most limit of them (the registry's default when limit <= 0), with
// docker's v1 search API: GET /v1/search?q=TERM&n=LIMIT. Docker Hub
// ("docker.io") is searched at index.docker.io. The request authenticates
// as the others do, asking for registry:catalog:*.
//
// A registry without the API (docker-registry answers 404) gives an error
// wrapping ErrUnsupported; a refusal wraps ErrDenied.
func Search(ctx context.Context, c *Client, host, term string, limit int) (SearchResult, error) {
	what := fmt.Sprintf("search %s for %q", host, term)
	if host == "" || strings.ContainsAny(host, "/?#@ ") {
		return SearchResult{}, fmt.Errorf("%s: bad registry host: %w", what, ErrInvalid)
	}
	q := url.Values{"q": {term}}
	if limit > 0 {
		q.Set("n", strconv.Itoa(limit))
	}
	base := strings.TrimSuffix(c.baseURL(host), "/v2/")
	if isDockerHub(host) {
		base = "https://index.docker.io"
	}
	resp, err := c.do(ctx, request{method: http.MethodGet, host: host,
		url:    base + "/v1/search?" + q.Encode(),
		scopes: []string{"registry:catalog:*"},
		header: http.Header{"Accept": {"application/json"}},
	})
	if err != nil {
		return SearchResult{}, fmt.Errorf("%s: %w", what, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusNotImplemented:
		readError(resp)
		return SearchResult{}, fmt.Errorf("%s: registry %s does not support search: %w", what, host, ErrUnsupported)
	case http.StatusUnauthorized, http.StatusForbidden:
		return SearchResult{}, fmt.Errorf("%s: %w", what, denied(readError(resp)))
	default:
		return SearchResult{}, fmt.Errorf("%s: GET %s answered: %w", what, redacted(resp.Request.URL), readError(resp))
	}
	var res SearchResult
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxSearchBody)).Decode(&res); err != nil {
		return SearchResult{}, fmt.Errorf("%s: the answer is not search results: %w: %v", what, ErrInvalid, err)
	}
	return res, nil
}
