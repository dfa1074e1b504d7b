package build

import (
	"context"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

// This file is ADD's remote sources: a URL is fetched and lands as one
// file (never extracted), mode 0600, with the Last-Modified time.

// unnamedFile is the name of a download whose URL and headers give none
// (it only matters when dest is a file path).
const unnamedFile = "__unnamed__"

// remoteFile is an ADD URL being fetched.
type remoteFile struct {
	// name is the file's name inside a destination directory: the
	// URL path's base, else Content-Disposition's filename.
	name  string
	mtime time.Time
	body  io.ReadCloser
}

// httpClient fetches ADD URLs (proxies from the environment).
var httpClient = &http.Client{Transport: http.DefaultTransport}

// fetch GETs an ADD URL. A status other than 2xx is an error naming the
// URL and the status, as docker's.
func fetch(ctx context.Context, req CopyRequest, rawURL string) (*remoteFile, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, req.failed("%s: %w", rawURL, err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, req.failed("%s: %w", rawURL, err)
	}
	resp, err := httpClient.Do(hreq)
	if err != nil {
		return nil, req.failed("%w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return nil, req.failed("failed to GET %s with status %s: %s", rawURL, resp.Status, strings.TrimSpace(string(b)))
	}
	rf := &remoteFile{name: downloadName(u.Path, resp), mtime: epoch, body: resp.Body}
	if lm := resp.Header.Get("Last-Modified"); lm != "" {
		if t, err := http.ParseTime(lm); err == nil {
			rf.mtime = t
		}
	}
	return rf, nil
}

// downloadName guesses a download's file name: the URL path's base,
// else Content-Disposition's filename, else "".
func downloadName(p string, resp *http.Response) string {
	if p != "" && !strings.HasSuffix(p, "/") {
		if b := path.Base(p); b != "" && b != "." && b != "/" {
			return b
		}
	}
	if cd := resp.Header.Get("Content-Disposition"); cd != "" {
		if _, params, err := mime.ParseMediaType(cd); err == nil {
			if fn := params["filename"]; fn != "" && !strings.HasSuffix(fn, "/") {
				if b := path.Base(fn); b != "" && b != "." && b != "/" {
					return b
				}
			}
		}
	}
	return ""
}

// targetName is where a download lands: inside dest when dest is a
// directory, else dest itself.
func (rf *remoteFile) targetName(req CopyRequest, rawURL string, destIsDir bool) (string, error) {
	if rf.name != "" {
		return rf.name, nil
	}
	if destIsDir {
		return "", req.failed("cannot determine filename for source %s", rawURL)
	}
	return unnamedFile, nil
}
