package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The Go client: plain net/http, one transport per client as separate
// programs would have, reading into a 1 MiB buffer (io.Discard's own
// ReadFrom reads 8 KiB at a time, which would make the client the
// bottleneck).

const manifestAccept = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json;q=0.9"

func newClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 4},
		Timeout:   5 * time.Minute,
	}
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// drain reads r to its end, hashing it when h is not nil, and returns the
// bytes read.
func drain(r io.Reader, h hash.Hash) (int64, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var n int64
	for {
		k, err := r.Read(buf)
		n += int64(k)
		if h != nil {
			h.Write(buf[:k])
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// getBlob GETs a blob and reads it to nothing; with verify, it checks the
// bytes against the digest.
func getBlob(c *http.Client, host, repo string, dg digest.Digest, verify bool) (int64, error) {
	resp, err := c.Get("http://" + host + "/v2/" + repo + "/blobs/" + dg.String())
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET blob %s: %s", dg, resp.Status)
	}
	var h hash.Hash
	if verify {
		h = sha256.New()
	}
	n, err := drain(resp.Body, h)
	if err != nil {
		return n, fmt.Errorf("GET blob %s: read after %d bytes: %w", dg, n, err)
	}
	if verify && digest.NewDigestFromBytes(digest.SHA256, h.Sum(nil)) != dg {
		return n, fmt.Errorf("GET blob %s: bytes do not match the digest", dg)
	}
	return n, nil
}

// pullImage reads the manifest at tag and then each of its blobs in turn;
// it returns the bytes read, and fails when they are not want.
func pullImage(c *http.Client, host, repo, tag string, want int64, verify bool) (int64, error) {
	req, _ := http.NewRequest("GET", "http://"+host+"/v2/"+repo+"/manifests/"+tag, nil)
	req.Header.Set("Accept", manifestAccept)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	mb, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, fmt.Errorf("GET manifest: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET manifest: %s: %s", resp.Status, mb)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(mb, &m); err != nil {
		return 0, fmt.Errorf("manifest: %w", err)
	}
	total := int64(len(mb))
	for _, d := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
		n, err := getBlob(c, host, repo, d.Digest, verify)
		total += n
		if err != nil {
			return total, err
		}
		if n != d.Size {
			return total, fmt.Errorf("blob %s: read %d bytes, manifest says %d", d.Digest, n, d.Size)
		}
	}
	if total != want {
		return total, fmt.Errorf("pull read %d bytes, want %d", total, want)
	}
	return total, nil
}

// pullParallel runs n pulls at once, each with its own client.
func pullParallel(host string, n int, want int64) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = pullImage(newClient(), host, repo, "latest", want, false)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// pushBlob uploads the file at path as a blob: POST to start the upload,
// one streamed PATCH with all of it, PUT with the digest to finish, as
// docker and skopeo do.
func pushBlob(host, repo, path string, dg digest.Digest, size int64) error {
	c := newClient()
	base, _ := url.Parse("http://" + host + "/v2/" + repo + "/blobs/uploads/")
	resp, err := c.Post(base.String(), "", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("POST %s: %s", base, resp.Status)
	}
	loc, err := base.Parse(resp.Header.Get("Location"))
	if err != nil {
		return fmt.Errorf("POST %s: Location: %w", base, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	req, _ := http.NewRequest("PATCH", loc.String(), f)
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err = c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("PATCH %s: %s", loc, resp.Status)
	}
	if loc, err = loc.Parse(resp.Header.Get("Location")); err != nil {
		return fmt.Errorf("PATCH: Location: %w", err)
	}
	q := loc.Query()
	q.Set("digest", dg.String())
	loc.RawQuery = q.Encode()
	req, _ = http.NewRequest("PUT", loc.String(), nil)
	resp, err = c.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("PUT %s: %s: %s", loc, resp.Status, body)
	}
	return nil
}

// check reads everything once the way a careful client would and reports
// what does not match: digests, sizes, Content-Length, and for registries
// Docker-Content-Digest and HEAD answers.
func (b *bench) check(t *target, host string) error {
	c := newClient()
	var problems []string
	if _, err := pullImage(c, host, repo, "latest", b.img.total(), true); err != nil {
		problems = append(problems, "verified pull: "+err.Error())
	}
	if n, err := getBlob(c, host, repo, b.img.bigBlob, true); err != nil || n != b.blobSize {
		problems = append(problems, fmt.Sprintf("verified GET of the big blob: %d bytes, %v", n, err))
	}
	for _, d := range append(b.img.blobs(), ocispec.Descriptor{Digest: b.img.bigBlob, Size: b.blobSize}) {
		u := "http://" + host + "/v2/" + repo + "/blobs/" + d.Digest.String()
		for _, method := range []string{"HEAD", "GET"} {
			req, _ := http.NewRequest(method, u, nil)
			resp, err := c.Do(req)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s %s: %v", method, d.Digest, err))
				continue
			}
			resp.Body.Close() // a GET is cut short: only its headers matter here
			if resp.StatusCode != http.StatusOK {
				problems = append(problems, fmt.Sprintf("%s %s: %s", method, d.Digest, resp.Status))
				continue
			}
			if cl := resp.Header.Get("Content-Length"); cl != strconv.FormatInt(d.Size, 10) {
				problems = append(problems, fmt.Sprintf("%s %s: Content-Length %q, want %d", method, d.Digest, cl, d.Size))
			}
			if t.registry && resp.Header.Get("Docker-Content-Digest") != d.Digest.String() {
				problems = append(problems, fmt.Sprintf("%s %s: Docker-Content-Digest %q", method, d.Digest, resp.Header.Get("Docker-Content-Digest")))
			}
		}
	}
	// A ranged GET, as clients that resume a download send.
	if err := checkRange(c, host, b.img.bigBlob, b.blob); err != nil {
		problems = append(problems, err.Error())
	}
	if t.registry {
		for _, ref := range []string{"latest", b.img.manifestDigest.String()} {
			req, _ := http.NewRequest("HEAD", "http://"+host+"/v2/"+repo+"/manifests/"+ref, nil)
			req.Header.Set("Accept", manifestAccept)
			resp, err := c.Do(req)
			if err != nil {
				problems = append(problems, fmt.Sprintf("HEAD manifest %s: %v", ref, err))
				continue
			}
			resp.Body.Close()
			switch {
			case resp.StatusCode != http.StatusOK:
				problems = append(problems, fmt.Sprintf("HEAD manifest %s: %s", ref, resp.Status))
			case resp.Header.Get("Docker-Content-Digest") != b.img.manifestDigest.String():
				problems = append(problems, fmt.Sprintf("HEAD manifest %s: Docker-Content-Digest %q, want %s", ref, resp.Header.Get("Docker-Content-Digest"), b.img.manifestDigest))
			case resp.Header.Get("Content-Type") != ocispec.MediaTypeImageManifest:
				problems = append(problems, fmt.Sprintf("HEAD manifest %s: Content-Type %q", ref, resp.Header.Get("Content-Type")))
			}
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// pushImage pushes the image in the layout with the Go client: each blob
// (config, then layers) as pushBlob does, then the manifest.
func pushImage(host, repo, tag, layout string, im *image) error {
	for _, d := range im.blobs() {
		if err := pushBlob(host, repo, filepath.Join(layout, "blobs", "sha256", d.Digest.Encoded()), d.Digest, d.Size); err != nil {
			return err
		}
	}
	u := "http://" + host + "/v2/" + repo + "/manifests/" + tag
	req, _ := http.NewRequest("PUT", u, bytes.NewReader(im.manifest))
	req.Header.Set("Content-Type", ocispec.MediaTypeImageManifest)
	resp, err := newClient().Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("PUT %s: %s: %s", u, resp.Status, body)
	}
	if got := resp.Header.Get("Docker-Content-Digest"); got != "" && got != im.manifestDigest.String() {
		return fmt.Errorf("PUT %s: Docker-Content-Digest %s, want %s", u, got, im.manifestDigest)
	}
	return nil
}

// checkRange GETs bytes 1000-1999 of the blob and compares them with the
// file's.
func checkRange(c *http.Client, host string, dg digest.Digest, path string) error {
	req, _ := http.NewRequest("GET", "http://"+host+"/v2/"+repo+"/blobs/"+dg.String(), nil)
	req.Header.Set("Range", "bytes=1000-1999")
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("ranged GET: %w", err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("ranged GET: read: %w", err)
	}
	if resp.StatusCode != http.StatusPartialContent {
		return fmt.Errorf("ranged GET: %s, want 206 Partial Content (%d bytes of body)", resp.Status, len(got))
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	want := make([]byte, 1000)
	if _, err := f.ReadAt(want, 1000); err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("ranged GET: %d bytes that are not bytes 1000-1999 of the blob", len(got))
	}
	return nil
}

// pushParallel runs n Go-client pushes of the image at once, each to a
// repository of its own (bench/big-0, ...), all of the same blobs, then
// checks that every repository has the manifest and every blob.
func pushParallel(host string, n int, im *image, layout string) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = pushImage(host, fmt.Sprintf("%s-%d", repo, i), "latest", layout, im)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	c := newClient()
	for i := range n {
		r := fmt.Sprintf("%s-%d", repo, i)
		urls := []string{"http://" + host + "/v2/" + r + "/manifests/latest"}
		for _, d := range im.blobs() {
			urls = append(urls, "http://"+host+"/v2/"+r+"/blobs/"+d.Digest.String())
		}
		for _, u := range urls {
			req, _ := http.NewRequest("HEAD", u, nil)
			req.Header.Set("Accept", manifestAccept)
			resp, err := c.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("after %d pushes at once: HEAD %s: %s", n, u, resp.Status)
			}
		}
	}
	return nil
}

// smallCount is how many small requests smallRequests makes.
const smallCount = 1000

// smallRequests makes n requests of method to u, one after another,
// reading each answer to its end.
func smallRequests(c *http.Client, method, u string, n int) error {
	for range n {
		req, _ := http.NewRequest(method, u, nil)
		req.Header.Set("Accept", manifestAccept)
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		_, err = drain(resp.Body, nil)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s %s: %s", method, u, resp.Status)
		}
	}
	return nil
}
