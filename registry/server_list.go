package registry

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// maxPageSize caps n in tag and catalog listings; a larger n gets this
// many entries and a Link to the rest.
const maxPageSize = 1000

// parsePage reads the n and last parameters of a listing. Without n, a
// page is maxPageSize long.
func parsePage(q url.Values) (n int, last string, err error) {
	n = maxPageSize
	if v := q.Get("n"); v != "" {
		n, err = strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, "", apiErrorf(codeUnsupported, "invalid page size n=%q", v).withStatus(http.StatusBadRequest)
		}
		n = min(n, maxPageSize)
	}
	return n, q.Get("last"), nil
}

// page collects up to n keys of c after last, and reports whether there
// are more. Only keys for which keep returns true count.
func page(c *bolt.Cursor, n int, last string, keep func(k, v []byte) bool) (keys []string, more bool) {
	var k, v []byte
	if last == "" {
		k, v = c.First()
	} else {
		k, v = c.Seek([]byte(last))
		if k != nil && string(k) == last {
			k, v = c.Next()
		}
	}
	keys = []string{}
	for ; k != nil; k, v = c.Next() {
		if !keep(k, v) {
			continue
		}
		if len(keys) == n {
			return keys, true
		}
		keys = append(keys, string(k))
	}
	return keys, false
}

// setNextLink sets the Link header to the page after last.
func setNextLink(w http.ResponseWriter, path, last string, n int) {
	q := url.Values{"last": {last}, "n": {strconv.Itoa(n)}}
	w.Header().Set("Link", "<"+path+"?"+q.Encode()+`>; rel="next"`)
}

// tagsList answers GET /v2/<name>/tags/list, sorted, paginated.
func (s *Server) tagsList(w http.ResponseWriter, r *http.Request, rt route) {
	if !s.allow(w, r, RepositoryAccess(rt.name, ActionPull)) {
		return
	}
	n, last, err := parsePage(r.URL.Query())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var tags []string
	var more bool
	err = s.db.View(func(tx *bolt.Tx) error {
		rb := openRepo(tx, rt.name)
		if rb == nil {
			return nameUnknown(rt.name)
		}
		tags, more = page(rb.tags.Cursor(), n, last, func(k, v []byte) bool { return true })
		return nil
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if more && len(tags) > 0 {
		setNextLink(w, "/v2/"+rt.name+"/tags/list", tags[len(tags)-1], n)
	}
	writeJSON(w, r, http.StatusOK, "application/json", struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{rt.name, tags})
}

// catalogAccess is what the catalog needs.
var catalogAccess = Access{Type: "registry", Name: "catalog", Actions: []string{ActionAll}}

// catalog answers GET /v2/_catalog, sorted, paginated.
func (s *Server) catalog(w http.ResponseWriter, r *http.Request, _ route) {
	if !s.allow(w, r, catalogAccess) {
		return
	}
	n, last, err := parsePage(r.URL.Query())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var repos []string
	var more bool
	err = s.db.View(func(tx *bolt.Tx) error {
		// Repositories are buckets: keys with a nil value.
		repos, more = page(tx.Bucket(bucketRepos).Cursor(), n, last, func(k, v []byte) bool { return v == nil })
		return nil
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if more && len(repos) > 0 {
		setNextLink(w, "/v2/_catalog", repos[len(repos)-1], n)
	}
	writeJSON(w, r, http.StatusOK, "application/json", struct {
		Repositories []string `json:"repositories"`
	}{repos})
}

// searchResult is one repository in docker's v1 search answer.
type searchResult struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	StarCount   int    `json:"star_count"`
	IsOfficial  bool   `json:"is_official"`
	IsAutomated bool   `json:"is_automated"`
	TagCount    int    `json:"tag_count"`
}

// searchResponse is docker's v1 search answer.
type searchResponse struct {
	NumResults int            `json:"num_results"`
	NumPages   int            `json:"num_pages"`
	Page       int            `json:"page"`
	PageSize   int            `json:"page_size"`
	Query      string         `json:"query"`
	Results    []searchResult `json:"results"`
}

// Search page sizes: docker's default, and a cap.
const (
	searchPageSize    = 25
	maxSearchPageSize = 100
)

// search answers docker's GET /v1/search?q=&n=&page=: the repositories
// whose name or description contains q (ignoring case) that the caller may
// pull. A caller who may pull none of the matches, and who would be let in
// with credentials, gets the challenge instead of an empty list.
func (s *Server) search(w http.ResponseWriter, r *http.Request, _ route) {
	q := r.URL.Query()
	term := q.Get("q")
	size, pageNo := searchPageSize, 1
	if v := q.Get("n"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			s.fail(w, r, apiErrorf(codeUnsupported, "invalid page size n=%q", v).withStatus(http.StatusBadRequest))
			return
		}
		size = min(n, maxSearchPageSize)
	}
	if v := q.Get("page"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 1 {
			s.fail(w, r, apiErrorf(codeUnsupported, "invalid page %q", v).withStatus(http.StatusBadRequest))
			return
		}
		pageNo = p
	}
	var matches []searchResult
	needle := strings.ToLower(term)
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRepos).ForEachBucket(func(k []byte) error {
			rb := openRepo(tx, string(k))
			res := searchResult{Name: string(k)}
			res.Description, res.TagCount = describeRepo(rb)
			if strings.Contains(strings.ToLower(res.Name), needle) || strings.Contains(strings.ToLower(res.Description), needle) {
				matches = append(matches, res)
			}
			return nil
		})
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// Ask the Authorizer outside the transaction: it may be slow.
	visible := []searchResult{}
	var challenge error
	for _, m := range matches {
		err := s.authorize(r, RepositoryAccess(m.Name, ActionPull))
		var ch *Challenge
		switch {
		case err == nil:
			visible = append(visible, m)
		case errors.As(err, &ch) && challenge == nil:
			challenge = err
		}
	}
	if len(visible) == 0 && challenge != nil {
		s.fail(w, r, authError(challenge))
		return
	}
	resp := searchResponse{
		NumResults: len(visible),
		NumPages:   (len(visible) + size - 1) / size,
		Page:       pageNo,
		PageSize:   size,
		Query:      term,
		Results:    []searchResult{},
	}
	if start := (pageNo - 1) * size; start < len(visible) {
		resp.Results = visible[start:min(start+size, len(visible))]
	}
	writeJSON(w, r, http.StatusOK, "application/json", resp)
}

// describeRepo returns a repository's description (that of its most
// recently pushed tag's manifest) and its number of tags.
func describeRepo(rb *repoBuckets) (string, int) {
	var latest tagRecord
	n := 0
	rb.tags.ForEach(func(k, v []byte) error {
		n++
		var t tagRecord
		if json.Unmarshal(v, &t) == nil && !t.Pushed.Before(latest.Pushed) {
			latest = t
		}
		return nil
	})
	if latest.Digest == "" {
		return "", n
	}
	rec, _, _ := rb.manifest(latest.Digest)
	return rec.Description, n
}
