package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/internal/progress"
)

// This file holds the requests of a push: blob HEAD, mount, upload
// (POST then PUT), and manifest PUT.

// maxMounts is how many repositories a blob is offered a mount from, as
// docker tries.
const maxMounts = 3

// sendBlob gets desc into the repository and returns the status that says
// how: skipped, mounted or uploaded.
func (p *pusher) sendBlob(ctx context.Context, desc ocispec.Descriptor, id string, sink progress.Sink) (string, error) {
	ok, err := p.blobExists(ctx, desc.Digest)
	if err != nil {
		return "", err
	}
	if ok {
		p.count(&p.skipped)
		return "Layer already exists", nil
	}
	var loc string
	cands := p.mountCandidates(desc.Digest)
	for i, from := range cands {
		mounted, l, err := p.mount(ctx, desc.Digest, from)
		if errors.Is(err, ErrDenied) {
			// No pull access to the source: upload instead.
			p.c.logf("registry: mount %s from %s refused: %v", desc.Digest, from, err)
			break
		}
		if err != nil {
			return "", err
		}
		if mounted {
			p.count(&p.mounted)
			return "Mounted from " + from, nil
		}
		if i < len(cands)-1 {
			p.cancelUpload(ctx, l) // the next candidate opens its own
			continue
		}
		loc = l // the registry opened an upload instead: use it
	}
	if loc == "" {
		if loc, err = p.startUpload(ctx); err != nil {
			return "", err
		}
	}
	if err := p.upload(ctx, loc, desc, id, sink); err != nil {
		p.cancelUpload(ctx, loc)
		return "", err
	}
	p.count(&p.pushed)
	return "Pushed", nil
}

// mountCandidates are the repositories to offer a mount of d from.
func (p *pusher) mountCandidates(d digest.Digest) []string {
	if p.o.MountFrom == nil {
		return nil
	}
	var out []string
	for _, r := range p.o.MountFrom(d) {
		if r == p.repo || slices.Contains(out, r) || checkRepo(p.host, r) != nil {
			continue
		}
		out = append(out, r)
		if len(out) == maxMounts {
			break
		}
	}
	return out
}

// blobExists asks whether the repository has blob d.
func (p *pusher) blobExists(ctx context.Context, d digest.Digest) (bool, error) {
	resp, err := p.c.do(ctx, request{method: http.MethodHead, host: p.host, repo: p.repo,
		path: p.repo + "/blobs/" + d.String(), scopes: p.scopes()})
	if err != nil {
		return false, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		resp.Body.Close()
		return true, nil
	case http.StatusNotFound:
		resp.Body.Close()
		return false, nil
	}
	return false, pushResponseError(resp)
}

// mount asks the registry to mount d from repository from: true when it
// did, else the Location of the upload it opened instead.
func (p *pusher) mount(ctx context.Context, d digest.Digest, from string) (bool, string, error) {
	q := url.Values{"mount": {d.String()}, "from": {from}}
	resp, err := p.c.do(ctx, request{method: http.MethodPost, host: p.host, repo: p.repo,
		path:   p.repo + "/blobs/uploads/?" + q.Encode(),
		scopes: append(p.scopes(), "repository:"+from+":pull"),
		body:   emptyBody, size: 0,
	})
	if err != nil {
		return false, "", err
	}
	switch resp.StatusCode {
	case http.StatusCreated:
		resp.Body.Close()
		return true, "", nil
	case http.StatusAccepted:
		resp.Body.Close()
		loc, err := location(resp)
		return false, loc, err
	}
	return false, "", pushResponseError(resp)
}

func emptyBody() (io.ReadCloser, error) { return http.NoBody, nil }

// startUpload opens an upload and returns its Location.
func (p *pusher) startUpload(ctx context.Context) (string, error) {
	resp, err := p.c.do(ctx, request{method: http.MethodPost, host: p.host, repo: p.repo,
		path: p.repo + "/blobs/uploads/", scopes: p.scopes(), body: emptyBody, size: 0})
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusAccepted {
		return "", pushResponseError(resp)
	}
	resp.Body.Close()
	return location(resp)
}

// location is the absolute URL of resp's Location header, which may be
// relative to the request's URL.
func location(resp *http.Response) (string, error) {
	h := resp.Header.Get("Location")
	if h == "" {
		return "", fmt.Errorf("%s %s answered %s without a Location", resp.Request.Method, redacted(resp.Request.URL), resp.Status)
	}
	u, err := resp.Request.URL.Parse(h)
	if err != nil {
		return "", fmt.Errorf("%s %s: bad Location %q: %w", resp.Request.Method, redacted(resp.Request.URL), h, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("%s %s: bad Location %q: %w", resp.Request.Method, redacted(resp.Request.URL), h, ErrInvalid)
	}
	return u.String(), nil
}

// redacted is u without its query, which may hold upload state or
// signatures.
func redacted(u *url.URL) string {
	v := *u
	v.RawQuery = ""
	return v.Redacted()
}

// upload completes the upload at loc with the whole blob in one PUT.
func (p *pusher) upload(ctx context.Context, loc string, desc ocispec.Descriptor, id string, sink progress.Sink) error {
	u := loc
	if strings.Contains(u, "?") {
		u += "&"
	} else {
		u += "?"
	}
	u += "digest=" + url.QueryEscape(desc.Digest.String())
	sink.Update(id, "Pushing", 0, desc.Size)
	resp, err := p.c.do(ctx, request{method: http.MethodPut, host: p.host, repo: p.repo, url: u,
		scopes: p.scopes(),
		header: http.Header{"Content-Type": {"application/octet-stream"}},
		size:   desc.Size,
		body: func() (io.ReadCloser, error) {
			ra, err := p.store.ReaderAt(ctx, desc.Digest)
			if err != nil {
				return nil, &localError{err}
			}
			return &progressReader{r: io.NewSectionReader(ra, 0, desc.Size), c: ra, id: id, total: desc.Size, sink: sink}, nil
		},
	})
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusNoContent {
		return pushResponseError(resp)
	}
	resp.Body.Close()
	if h := resp.Header.Get("Docker-Content-Digest"); h != "" && h != desc.Digest.String() {
		return fmt.Errorf("the registry stored it as %s: %w", h, ErrInvalid)
	}
	return nil
}

// cancelUpload drops an upload the push will not finish; a failure to
// is only logged (the registry purges stale uploads).
func (p *pusher) cancelUpload(ctx context.Context, loc string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	resp, err := p.c.do(ctx, request{method: http.MethodDelete, host: p.host, repo: p.repo, url: loc, scopes: p.scopes()})
	if err != nil {
		p.c.logf("registry: cancel upload: %v", err)
		return
	}
	resp.Body.Close()
}

// progressReader reads a blob for an upload, reporting how far it got.
type progressReader struct {
	r           io.Reader
	c           io.Closer
	id          string
	sink        progress.Sink
	n, total    int64
	lastReports int64
}

// reportEvery is how many bytes an upload sends between progress reports.
const reportEvery = 256 << 10

func (r *progressReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	r.n += int64(n)
	if n > 0 && (r.n-r.lastReports >= reportEvery || r.n == r.total) {
		r.lastReports = r.n
		r.sink.Update(r.id, "Pushing", r.n, r.total)
	}
	if err != nil && err != io.EOF {
		err = &localError{err}
	}
	return n, err
}

func (r *progressReader) Close() error { return r.c.Close() }

// manifest puts m as ref (a tag, or its digest when ref is ""); by
// digest, one the repository has already is not sent again.
func (p *pusher) manifest(ctx context.Context, m treeManifest, ref string) error {
	what := kindOf(m.desc) + " " + m.desc.Digest.String()
	if ref == "" {
		ref = m.desc.Digest.String()
		resp, err := p.c.do(ctx, request{method: http.MethodHead, host: p.host, repo: p.repo,
			path: p.repo + "/manifests/" + ref, scopes: p.scopes(), header: http.Header{"Accept": {manifestAccept}}})
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
	}
	resp, err := p.c.do(ctx, request{method: http.MethodPut, host: p.host, repo: p.repo,
		path: p.repo + "/manifests/" + ref, scopes: p.scopes(),
		header: http.Header{"Content-Type": {m.desc.MediaType}},
		size:   int64(len(m.body)),
		body:   func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(m.body)), nil },
	})
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("%s: %w", what, pushResponseError(resp))
	}
	resp.Body.Close()
	if h := resp.Header.Get("Docker-Content-Digest"); h != "" && h != m.desc.Digest.String() {
		return fmt.Errorf("%s: the registry stored it as %s: %w", what, h, ErrInvalid)
	}
	return nil
}

// deniedResponse is a registry's refusal, which reads as docker's
// ("unauthorized: authentication required", "denied: requested access to
// the resource is denied"): a push reports it alone, whichever of its
// requests met it.
type deniedResponse struct{ *ErrorResponse }

func (e *deniedResponse) Unwrap() error { return e.ErrorResponse }

// denied fills in docker's words when a 401 or 403 came without a body
// (a HEAD's, or a terse server's).
func denied(e *ErrorResponse) *deniedResponse {
	if len(e.Errors) == 0 {
		if e.StatusCode == http.StatusForbidden {
			e.Errors = []ErrorEntry{{Code: "DENIED", Message: "requested access to the resource is denied"}}
		} else {
			e.Errors = []ErrorEntry{{Code: "UNAUTHORIZED", Message: "authentication required"}}
		}
	}
	return &deniedResponse{e}
}

// pushResponseError turns an error response of a push request into the
// error a user reads: the registry's own code and message
// ("manifest blob unknown: blob unknown to registry"), after the request.
func pushResponseError(resp *http.Response) error {
	e := readError(resp)
	switch e.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		return denied(e)
	case http.StatusNotFound:
		if len(e.Errors) == 0 {
			e.Errors = []ErrorEntry{{Code: "NOT_FOUND"}}
		}
	}
	return fmt.Errorf("%s %s answered: %w", resp.Request.Method, redacted(resp.Request.URL), e)
}

// scopeDenied is the error for a token server's refusal of anonymous
// access: docker's pull words when the scopes ask to pull repositories
// only, else (a push, a search) the registry's refusal as docker shows it.
func scopeDenied(host, repo string, scopes []string, e *ErrorResponse) error {
	for _, s := range scopes {
		if !strings.HasPrefix(s, "repository:") || !strings.HasSuffix(s, ":pull") {
			return denied(e)
		}
	}
	return deniedError(host, repo, e)
}
