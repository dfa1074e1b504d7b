package engine

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/berth-project/berth/image"
	"github.com/berth-project/berth/registry"
)

// SearchOptions tune Search.
type SearchOptions struct {
	// Limit is how many results to ask for: 1 to 100, 0 for 25 (docker's).
	Limit int
	// Filters keep the results that pass them all: "stars=N" (at least N
	// stars), "is-official=true|false", "is-automated=true|false".
	Filters []string
}

// DefaultSearchLimit is how many results a search asks for by default.
const DefaultSearchLimit = 25

// Search searches registries for repositories, as docker does: a term
// "HOST/word" (HOST with a '.' or ':', or localhost) searches HOST for
// "word", any other term Docker Hub.
func (s *Images) Search(ctx context.Context, term string, o SearchOptions) ([]registry.SearchEntry, error) {
	return Search(ctx, s.Registry, term, o)
}

// Search is Images.Search without the image store: it needs only a
// registry client.
func Search(ctx context.Context, c *registry.Client, term string, o SearchOptions) ([]registry.SearchEntry, error) {
	if o.Limit == 0 {
		o.Limit = DefaultSearchLimit
	}
	if o.Limit < 1 || o.Limit > 100 {
		return nil, &dockerError{fmt.Sprintf("limit %d is outside the range of [1, 100]", o.Limit), registry.ErrInvalid}
	}
	keep, err := searchFilter(o.Filters)
	if err != nil {
		return nil, err
	}
	host, query := SplitSearchTerm(term)
	res, err := registry.Search(ctx, c, host, query, o.Limit)
	if err != nil {
		return nil, err
	}
	var out []registry.SearchEntry
	for _, e := range res.Results {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out, nil
}

// SplitSearchTerm splits a search term into the registry to ask and what
// to ask it, by docker's rule: the first component of "a/b" names a
// registry when it has a '.' or ':' or is localhost.
func SplitSearchTerm(term string) (host, query string) {
	first, rest, ok := strings.Cut(term, "/")
	if !ok || (!strings.ContainsAny(first, ".:") && first != "localhost") {
		return image.DefaultDomain, term
	}
	return first, rest
}

// searchFilter parses docker's search filters into a predicate.
func searchFilter(filters []string) (func(registry.SearchEntry) bool, error) {
	minStars := 0
	var official, automated *bool
	for _, f := range filters {
		k, v, ok := strings.Cut(f, "=")
		bad := &dockerError{fmt.Sprintf("invalid filter '%s'", f), registry.ErrInvalid}
		if !ok {
			return nil, bad
		}
		switch k {
		case "stars":
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, bad
			}
			minStars = max(minStars, n)
		case "is-official", "is-automated":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, bad
			}
			if k == "is-official" {
				official = &b
			} else {
				automated = &b
			}
		default:
			return nil, bad
		}
	}
	return func(e registry.SearchEntry) bool {
		return e.StarCount >= minStars &&
			(official == nil || e.IsOfficial == *official) &&
			(automated == nil || e.IsAutomated == *automated)
	}, nil
}
