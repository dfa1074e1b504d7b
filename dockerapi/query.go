package dockerapi

import (
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berth-project/berth/engine"
)

// query reads a request's query parameters the way docker does, keeping the
// first bad value as a 400 error so a handler checks once at the end.
type query struct {
	v   url.Values
	err error
}

func newQuery(u *url.URL) *query { return &query{v: u.Query()} }

func (q *query) fail(err error) {
	if q.err == nil {
		q.err = err
	}
}

func (q *query) has(k string) bool   { _, ok := q.v[k]; return ok }
func (q *query) str(k string) string { return q.v.Get(k) }

// bool reads a boolean: docker's clients send 1/0, true/false (any case);
// yes/no/none are accepted as the daemon does, and absent or empty is false.
func (q *query) bool(k string) bool { return q.boolDefault(k, false) }

// boolDefault is bool with d when the parameter is absent.
func (q *query) boolDefault(k string, d bool) bool {
	if !q.has(k) {
		return d
	}
	b, ok := parseBool(q.v.Get(k))
	if !ok {
		q.fail(engine.Invalid("invalid boolean value %q for query parameter %q", q.v.Get(k), k))
	}
	return b
}

func parseBool(s string) (value, ok bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "0", "false", "no", "none":
		return false, true
	case "1", "true", "yes":
		return true, true
	}
	return false, false
}

// int reads an integer, d when absent or empty.
func (q *query) int(k string, d int) int {
	s := q.v.Get(k)
	if s == "" {
		return d
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		q.fail(engine.Invalid("invalid value %q for query parameter %q: not an integer", s, k))
		return d
	}
	return n
}

// intPtr reads an optional integer: nil when absent or empty.
func (q *query) intPtr(k string) *int {
	if q.v.Get(k) == "" {
		return nil
	}
	n := q.int(k, 0)
	return &n
}

// size reads a required terminal dimension (resize h and w), in docker's
// words when it is missing or bad.
func (q *query) size(k, what string) uint {
	s := q.v.Get(k)
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		reason := "invalid syntax"
		if ne, ok := err.(*strconv.NumError); ok {
			reason = ne.Err.Error()
		}
		q.fail(engine.Invalid("invalid resize %s %q: %s", what, s, reason))
	}
	return uint(n)
}

// timestamp reads since/until: unix seconds ("1700000000.5"), an RFC 3339
// time or a Go duration meaning that long ago, passed on as given.
func (q *query) timestamp(k string) string {
	s := q.v.Get(k)
	if !validTimestamp(s) {
		q.fail(engine.Invalid("invalid value %q for query parameter %q: not a timestamp, RFC 3339 time or duration", s, k))
	}
	return s
}

var timeLayouts = []string{
	time.RFC3339Nano, time.RFC3339,
	"2006-01-02T15:04:05", "2006-01-02T15:04:05.999999999",
	"2006-01-02Z07:00", "2006-01-02",
}

func validTimestamp(s string) bool {
	if s == "" {
		return true
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return true
	}
	if _, err := time.ParseDuration(s); err == nil {
		return true
	}
	for _, l := range timeLayouts {
		if _, err := time.Parse(l, s); err == nil {
			return true
		}
	}
	return false
}

// tail reads logs' tail: "all" or a line count.
func (q *query) tail() string {
	s := q.v.Get("tail")
	if s == "" || s == "all" {
		return s
	}
	if _, err := strconv.Atoi(s); err != nil {
		q.fail(engine.Invalid("invalid value %q for query parameter \"tail\": \"all\" or a number of lines", s))
	}
	return s
}

// filters reads the filters parameter.
func (q *query) filters() engine.Filters {
	f, err := decodeFilters(q.v.Get("filters"))
	if err != nil {
		q.fail(err)
	}
	return f
}

// decodeFilters parses docker's filters JSON in both of its shapes: the
// current {"status":{"running":true}} and the older {"status":["running"]}.
// Empty means no filters (nil).
func decodeFilters(s string) (engine.Filters, error) {
	if s == "" {
		return nil, nil
	}
	var sets map[string]map[string]bool
	if err := json.Unmarshal([]byte(s), &sets); err == nil {
		if len(sets) == 0 {
			return nil, nil
		}
		f := make(engine.Filters, len(sets))
		for k, set := range sets {
			vals := make([]string, 0, len(set))
			for v := range set {
				vals = append(vals, v)
			}
			slices.Sort(vals)
			f[k] = vals
		}
		return f, nil
	}
	var lists map[string][]string
	if err := json.Unmarshal([]byte(s), &lists); err != nil {
		return nil, engine.Invalid("invalid filter")
	}
	if len(lists) == 0 {
		return nil, nil
	}
	return engine.Filters(lists), nil
}

// encodeFilters writes filters in the current shape; "" for none.
func encodeFilters(f engine.Filters) string {
	if len(f) == 0 {
		return ""
	}
	sets := make(map[string]map[string]bool, len(f))
	for k, vals := range f {
		set := make(map[string]bool, len(vals))
		for _, v := range vals {
			set[v] = true
		}
		sets[k] = set
	}
	b, _ := json.Marshal(sets) // maps of strings and bools always marshal
	return string(b)
}

// splitRef splits an image reference into the repository and the tag or
// digest the API carries separately (fromImage+tag, push's tag, tag's
// repo+tag): "localhost:5000/a/b:1" is ("localhost:5000/a/b", "1"),
// "a@sha256:…" is ("a", "sha256:…"), "a" is ("a", "").
func splitRef(ref string) (repo, tag string) {
	if i := strings.Index(ref, "@"); i >= 0 {
		return ref[:i], ref[i+1:]
	}
	slash := strings.LastIndex(ref, "/")
	if i := strings.LastIndex(ref, ":"); i > slash {
		return ref[:i], ref[i+1:]
	}
	return ref, ""
}

// joinRef is the inverse of splitRef: a tag containing ':' is a digest.
func joinRef(repo, tag string) string {
	switch {
	case tag == "":
		return repo
	case strings.Contains(tag, ":"):
		return repo + "@" + tag
	}
	return repo + ":" + tag
}
