package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/content"
)

// startSession opens an upload session in repo and returns its location.
func (ts *testServer) startSession(repo string) string {
	ts.t.Helper()
	r := ts.do("POST", "/v2/"+repo+"/blobs/uploads/", nil)
	r.expect(ts.t, http.StatusAccepted, "")
	loc := r.Header.Get("Location")
	if !strings.HasPrefix(loc, "/v2/"+repo+"/blobs/uploads/") || r.Header.Get("Range") != "0-0" || r.Header.Get("Docker-Upload-UUID") == "" {
		ts.t.Fatalf("new session: headers %v", r.Header)
	}
	return loc
}

// patch sends a chunk at start (no Content-Range when start < 0).
func (ts *testServer) patch(loc string, start int, chunk []byte) response {
	ts.t.Helper()
	if start < 0 {
		return ts.do("PATCH", loc, chunk, "Content-Type", "application/octet-stream")
	}
	return ts.do("PATCH", loc, chunk, "Content-Type", "application/octet-stream",
		"Content-Range", fmt.Sprintf("%d-%d", start, start+len(chunk)-1))
}

func withDigest(loc string, d digest.Digest) string {
	return loc + "?digest=" + url.QueryEscape(d.String())
}

func TestServerChunkedUpload(t *testing.T) {
	data := bytes.Repeat([]byte("chunked upload "), 10000)
	for _, alg := range []digest.Algorithm{digest.SHA256, digest.SHA512} {
		for _, mode := range []string{"patches then empty put", "last chunk in put", "stream"} {
			t.Run(alg.String()+"/"+mode, func(t *testing.T) {
				ts := newTestServer(t)
				d := alg.FromBytes(data)
				loc := ts.startSession("a")
				third := len(data) / 3
				var put response
				switch mode {
				case "patches then empty put":
					for off := 0; off < len(data); off += third {
						chunk := data[off:min(off+third, len(data))]
						r := ts.patch(loc, off, chunk)
						r.expect(t, http.StatusAccepted, "")
						if want := fmt.Sprintf("0-%d", off+len(chunk)-1); r.Header.Get("Range") != want {
							t.Fatalf("Range %q, want %q", r.Header.Get("Range"), want)
						}
						loc = r.Header.Get("Location")
					}
					put = ts.do("PUT", withDigest(loc, d), nil)
				case "last chunk in put":
					ts.patch(loc, 0, data[:third]).expect(t, http.StatusAccepted, "")
					put = ts.do("PUT", withDigest(loc, d), data[third:], "Content-Range", fmt.Sprintf("%d-%d", third, len(data)-1))
				case "stream":
					ts.patch(loc, -1, data[:third]).expect(t, http.StatusAccepted, "")
					ts.patch(loc, -1, data[third:]).expect(t, http.StatusAccepted, "")
					st := ts.do("GET", loc, nil)
					st.expect(t, http.StatusNoContent, "")
					if want := fmt.Sprintf("0-%d", len(data)-1); st.Header.Get("Range") != want || st.Header.Get("Location") != loc {
						t.Fatalf("status: %v", st.Header)
					}
					put = ts.do("PUT", withDigest(loc, d), nil)
				}
				put.expect(t, http.StatusCreated, "")
				if put.Header.Get("Location") != "/v2/a/blobs/"+d.String() || put.Header.Get("Docker-Content-Digest") != d.String() {
					t.Fatalf("PUT: headers %v", put.Header)
				}
				r := ts.do("GET", put.Header.Get("Location"), nil)
				r.expect(t, http.StatusOK, "")
				if !bytes.Equal(r.body, data) {
					t.Fatal("blob differs")
				}
				// The session is over.
				ts.do("GET", loc, nil).expect(t, http.StatusNotFound, codeBlobUploadUnknown)
			})
		}
	}
}

func TestServerUploadErrors(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 300)
	d := digest.FromBytes(data)
	wrong := digest.FromString("not the data")
	tests := []struct {
		name   string
		run    func(ts *testServer) response
		status int
		code   string
		// after, when set, checks what the failure left.
		after func(t *testing.T, ts *testServer)
	}{
		{"post wrong digest", func(ts *testServer) response {
			return ts.do("POST", "/v2/a/blobs/uploads/?digest="+wrong.String(), data)
		}, http.StatusBadRequest, codeDigestInvalid, nil},
		{"post bad digest", func(ts *testServer) response {
			return ts.do("POST", "/v2/a/blobs/uploads/?digest=sha256:1234", data)
		}, http.StatusBadRequest, codeDigestInvalid, nil},
		{"post unsupported algorithm", func(ts *testServer) response {
			return ts.do("POST", "/v2/a/blobs/uploads/?digest="+digest.SHA384.FromBytes(data).String(), data)
		}, http.StatusBadRequest, codeDigestInvalid, nil},
		{"put wrong digest ends the session", func(ts *testServer) response {
			loc := ts.startSession("a")
			ts.patch(loc, 0, data).expect(ts.t, http.StatusAccepted, "")
			r := ts.do("PUT", withDigest(loc, wrong), nil)
			ts.do("GET", loc, nil).expect(ts.t, http.StatusNotFound, codeBlobUploadUnknown)
			return r
		}, http.StatusBadRequest, codeDigestInvalid, nil},
		{"put without digest keeps the session", func(ts *testServer) response {
			loc := ts.startSession("a")
			r := ts.do("PUT", loc, data)
			ts.do("GET", loc, nil).expect(ts.t, http.StatusNoContent, "")
			return r
		}, http.StatusBadRequest, codeDigestInvalid, nil},
		{"chunk out of order", func(ts *testServer) response {
			loc := ts.startSession("a")
			ts.patch(loc, 0, data[:100]).expect(ts.t, http.StatusAccepted, "")
			r := ts.patch(loc, 200, data[200:300])
			if r.Header.Get("Range") != "0-99" || r.Header.Get("Location") != loc {
				ts.t.Errorf("416 with headers %v", r.Header)
			}
			// The session goes on where it stood.
			ts.patch(loc, 100, data[100:]).expect(ts.t, http.StatusAccepted, "")
			ts.do("PUT", withDigest(loc, d), nil).expect(ts.t, http.StatusCreated, "")
			return r
		}, http.StatusRequestedRangeNotSatisfiable, codeBlobUploadInvalid, nil},
		{"first chunk not at 0", func(ts *testServer) response {
			return ts.patch(ts.startSession("a"), 10, data[10:20])
		}, http.StatusRequestedRangeNotSatisfiable, codeBlobUploadInvalid, nil},
		{"put chunk out of order", func(ts *testServer) response {
			loc := ts.startSession("a")
			ts.patch(loc, 0, data[:100]).expect(ts.t, http.StatusAccepted, "")
			return ts.do("PUT", withDigest(loc, d), data[:100], "Content-Range", "0-99")
		}, http.StatusRequestedRangeNotSatisfiable, codeBlobUploadInvalid, nil},
		{"bad content range", func(ts *testServer) response {
			return ts.do("PATCH", ts.startSession("a"), data, "Content-Range", "bytes=a-b")
		}, http.StatusRequestedRangeNotSatisfiable, codeBlobUploadInvalid, nil},
		{"content range and length disagree", func(ts *testServer) response {
			return ts.do("PATCH", ts.startSession("a"), data, "Content-Range", "0-9")
		}, http.StatusBadRequest, codeSizeInvalid, nil},
		{"unknown session", func(ts *testServer) response {
			return ts.do("PATCH", "/v2/a/blobs/uploads/"+newUploadID(), data)
		}, http.StatusNotFound, codeBlobUploadUnknown, nil},
		{"malformed session id", func(ts *testServer) response {
			return ts.do("GET", "/v2/a/blobs/uploads/not-a-uuid", nil)
		}, http.StatusNotFound, codeBlobUploadUnknown, nil},
		{"session of another repository", func(ts *testServer) response {
			loc := ts.startSession("a")
			return ts.do("PATCH", strings.Replace(loc, "/v2/a/", "/v2/b/", 1), data)
		}, http.StatusNotFound, codeBlobUploadUnknown, nil},
		{"cancel", func(ts *testServer) response {
			loc := ts.startSession("a")
			ts.patch(loc, 0, data).expect(ts.t, http.StatusAccepted, "")
			ts.do("DELETE", loc, nil).expect(ts.t, http.StatusNoContent, "")
			return ts.do("DELETE", loc, nil)
		}, http.StatusNotFound, codeBlobUploadUnknown, func(t *testing.T, ts *testServer) {
			if in := ingests(t, ts.s.store); len(in) != 0 {
				t.Errorf("cancelled upload left %v", in)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t)
			tc.run(ts).expect(t, tc.status, tc.code)
			if tc.after != nil {
				tc.after(t, ts)
			}
			if strings.Contains(tc.name, "order") {
				return // this one pushed the blob in the end
			}
			ts.do("HEAD", "/v2/a/blobs/"+d.String(), nil).expect(t, http.StatusNotFound, "")
		})
	}
}

func TestServerMaxBlobSize(t *testing.T) {
	ts := newTestServer(t, WithMaxBlobSize(1000))
	small := bytes.Repeat([]byte("s"), 1000)
	big := bytes.Repeat([]byte("b"), 1001)
	ts.pushBlob("a", small)
	ts.do("POST", "/v2/a/blobs/uploads/?digest="+digest.FromBytes(big).String(), big).expect(t, http.StatusRequestEntityTooLarge, codeSizeInvalid)

	loc := ts.startSession("a")
	ts.patch(loc, 0, big[:600]).expect(t, http.StatusAccepted, "")
	ts.patch(loc, 600, big[600:]).expect(t, http.StatusRequestEntityTooLarge, codeSizeInvalid)
	ts.do("GET", loc, nil).expect(t, http.StatusNotFound, codeBlobUploadUnknown)

	// A stream without a length is cut at the limit.
	loc = ts.startSession("a")
	req, _ := http.NewRequest("PATCH", ts.hs.URL+loc, io.MultiReader(bytes.NewReader(big))) // no ContentLength: chunked
	resp, err := ts.hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("stream over the limit: %s", resp.Status)
	}
	if in := ingests(t, ts.s.store); len(in) != 0 {
		t.Errorf("refused uploads left %v", in)
	}
}

// ingests lists the store's unfinished writes.
func ingests(t *testing.T, s *content.Local) []content.Status {
	t.Helper()
	in, err := s.Ingests(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// sendCut sends a request whose body stops after sent of the declared
// length bytes, and closes the connection.
func sendCut(t *testing.T, ts *testServer, method, path string, declared int, sent []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.hs.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", method, path, declared)
	conn.Write(sent)
	time.Sleep(50 * time.Millisecond)
	conn.Close()
}

// TestServerUploadCutOff: a body that stops short never makes a visible
// blob; a session keeps what arrived and goes on from there.
func TestServerUploadCutOff(t *testing.T) {
	ts := newTestServer(t)
	data := bytes.Repeat([]byte("cut off "), 100000)
	d := digest.FromBytes(data)
	half := len(data) / 2

	sendCut(t, ts, "POST", "/v2/a/blobs/uploads/?digest="+d.String(), len(data), data[:half])
	loc := ts.startSession("a")
	sendCut(t, ts, "PATCH", loc, len(data), data[:half])
	sendCut(t, ts, "PUT", withDigest(ts.startSession("a"), d), len(data), data[:half])
	waitFor(t, "the cut requests to end", func() bool {
		r := ts.do("GET", loc, nil)
		return r.StatusCode == http.StatusNoContent && r.Header.Get("Range") != "0-0"
	})
	ts.do("HEAD", "/v2/a/blobs/"+d.String(), nil).expect(t, http.StatusNotFound, "")
	if _, err := ts.s.store.Info(context.Background(), d); err == nil {
		t.Fatal("a cut upload made the blob")
	}
	// The single POST's data is gone; the sessions keep theirs.
	waitFor(t, "the cut POST's data to go", func() bool { return len(ingests(t, ts.s.store)) == 2 })

	st := ts.do("GET", loc, nil)
	var end int
	fmt.Sscanf(st.Header.Get("Range"), "0-%d", &end)
	if end <= 0 || end >= half {
		t.Fatalf("session stands at %q after %d bytes were sent", st.Header.Get("Range"), half)
	}
	ts.patch(loc, end+1, data[end+1:]).expect(t, http.StatusAccepted, "")
	ts.do("PUT", withDigest(loc, d), nil).expect(t, http.StatusCreated, "")
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestServerMount(t *testing.T) {
	ts := newTestServer(t)
	blob := ts.pushBlob("src", []byte("to mount"))
	r := ts.do("POST", "/v2/dst/blobs/uploads/?mount="+blob.Digest.String()+"&from=src", nil)
	r.expect(t, http.StatusCreated, "")
	if r.Header.Get("Location") != "/v2/dst/blobs/"+blob.Digest.String() || r.Header.Get("Docker-Content-Digest") != blob.Digest.String() {
		t.Fatalf("mount: %v", r.Header)
	}
	ts.do("GET", "/v2/dst/blobs/"+blob.Digest.String(), nil).expect(t, http.StatusOK, "")

	// Without from: any repository that has it.
	ts.do("POST", "/v2/dst2/blobs/uploads/?mount="+blob.Digest.String(), nil).expect(t, http.StatusCreated, "")
	// A blob the source does not have: an ordinary session.
	missing := digest.FromString("missing")
	r = ts.do("POST", "/v2/dst/blobs/uploads/?mount="+missing.String()+"&from=src", nil)
	r.expect(t, http.StatusAccepted, "")
	ts.do("GET", r.Header.Get("Location"), nil).expect(t, http.StatusNoContent, "")
	ts.do("POST", "/v2/dst/blobs/uploads/?mount="+missing.String(), nil).expect(t, http.StatusAccepted, "")
	ts.do("POST", "/v2/dst/blobs/uploads/?mount=sha256:bad&from=src", nil).expect(t, http.StatusBadRequest, codeDigestInvalid)
	ts.do("POST", "/v2/dst/blobs/uploads/?mount="+blob.Digest.String()+"&from=Bad", nil).expect(t, http.StatusBadRequest, codeNameInvalid)
}

// TestServerRestart: Close and a new server on the same root keep
// everything, and a chunked upload goes on where it stopped.
func TestServerRestart(t *testing.T) {
	root := t.TempDir()
	ts := openTestServer(t, root)
	img := ts.pushImage("a", "v1", "restart", nil)
	data := bytes.Repeat([]byte("resumed "), 200000)
	d := digest.FromBytes(data)
	loc := ts.startSession("a")
	ts.patch(loc, 0, data[:700000]).expect(t, http.StatusAccepted, "")
	ts.close()
	ts.close() // twice is fine

	ts = openTestServer(t, root)
	st := ts.do("GET", loc, nil)
	st.expect(t, http.StatusNoContent, "")
	if st.Header.Get("Range") != "0-699999" {
		t.Fatalf("after restart the session stands at %q", st.Header.Get("Range"))
	}
	ts.patch(loc, 700000, data[700000:]).expect(t, http.StatusAccepted, "")
	ts.do("PUT", withDigest(loc, d), nil).expect(t, http.StatusCreated, "")
	r := ts.do("GET", "/v2/a/manifests/v1", nil)
	r.expect(t, http.StatusOK, "")
	if !bytes.Equal(r.body, img.body) {
		t.Fatal("manifest changed across the restart")
	}
	ts.do("GET", "/v2/a/blobs/"+img.layers[0].Digest.String(), nil).expect(t, http.StatusOK, "")
}

func TestServerStorageLocked(t *testing.T) {
	root := t.TempDir()
	newTestServerAt := func() error {
		s, err := NewServer(root)
		if err == nil {
			s.Close()
		}
		return err
	}
	ts := openTestServer(t, root)
	err := newTestServerAt()
	want := fmt.Sprintf(`registry storage %s is in use (is "berth registry serve" running?)`, root)
	if !isStorageLocked(err) || err.Error() != want {
		t.Fatalf("second server: %v", err)
	}
	if _, err := GarbageCollect(context.Background(), root, GCOptions{}); !isStorageLocked(err) {
		t.Fatalf("gc of a served root: %v", err)
	}
	ts.close()
	if err := newTestServerAt(); err != nil {
		t.Fatalf("after Close: %v", err)
	}
}

func isStorageLocked(err error) bool {
	return err != nil && strings.Contains(err.Error(), "in use") && errors.Is(err, ErrStorageLocked)
}

// TestServerCrash: storage copied from under a running server (as a
// crash leaves it: writers open, nothing closed) starts clean: the
// session resumes, and writes no session owns are removed.
func TestServerCrash(t *testing.T) {
	root := t.TempDir()
	ts := openTestServer(t, root)
	img := ts.pushImage("a", "v1", "crash", nil)
	data := bytes.Repeat([]byte("crash "), 100000)
	d := digest.FromBytes(data)
	loc := ts.startSession("a")
	ts.patch(loc, 0, data[:1000]).expect(t, http.StatusAccepted, "")

	copyRoot := t.TempDir()
	if err := os.CopyFS(copyRoot, os.DirFS(root)); err != nil {
		t.Fatal(err)
	}
	// A single POST that was cut by the crash, and a manifest write.
	cs, err := content.NewLocal(copyRoot)
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{uploadRef(newUploadID()), digest.FromString("manifest").String()} {
		w, err := cs.Writer(context.Background(), ref, ocispec.Descriptor{})
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte("half a blob"))
		w.Close()
	}
	if n := len(ingests(t, cs)); n != 3 {
		t.Fatalf("%d ingests in the copy, want 3", n)
	}

	ts2 := openTestServer(t, copyRoot)
	in := ingests(t, cs)
	if len(in) != 1 || !strings.HasSuffix(loc, strings.TrimPrefix(in[0].Ref, "upload-")) {
		t.Fatalf("ingests after the restart: %+v", in)
	}
	ts2.do("GET", "/v2/a/manifests/v1", nil).expect(t, http.StatusOK, "")
	ts2.do("GET", "/v2/a/blobs/"+img.config.Digest.String(), nil).expect(t, http.StatusOK, "")
	ts2.patch(loc, 1000, data[1000:]).expect(t, http.StatusAccepted, "")
	ts2.do("PUT", withDigest(loc, d), nil).expect(t, http.StatusCreated, "")
}

func TestServerJanitor(t *testing.T) {
	ts := newTestServer(t, WithUploadTTL(300*time.Millisecond))
	old := ts.startSession("a")
	ts.patch(old, 0, []byte("old data")).expect(t, http.StatusAccepted, "")
	fresh := ts.startSession("a")
	oldID := old[strings.LastIndex(old, "/")+1:]
	deadline := time.Now().Add(5 * time.Second)
	for {
		// Keep one session busy; the other one expires. (A status
		// GET is a use too, so the test looks at the ingests.)
		ts.patch(fresh, -1, []byte("x")).expect(t, http.StatusAccepted, "")
		gone := true
		for _, in := range ingests(t, ts.s.store) {
			if in.Ref == uploadRef(oldID) {
				gone = false
			}
		}
		if gone {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the janitor did not remove the idle upload")
		}
		time.Sleep(50 * time.Millisecond)
	}
	ts.do("GET", old, nil).expect(t, http.StatusNotFound, codeBlobUploadUnknown)
	ts.do("GET", fresh, nil).expect(t, http.StatusNoContent, "")
	if in := ingests(t, ts.s.store); len(in) != 1 || !strings.HasSuffix(fresh, strings.TrimPrefix(in[0].Ref, "upload-")) {
		t.Fatalf("ingests: %+v", in)
	}
}

// TestServerIdleWriter: a session whose writer the janitor closed goes on
// after a rehash.
func TestServerIdleWriter(t *testing.T) {
	ts := newTestServer(t)
	data := bytes.Repeat([]byte("idle "), 1000)
	loc := ts.startSession("a")
	ts.patch(loc, 0, data[:100]).expect(t, http.StatusAccepted, "")
	ts.s.closeIdleWriters(time.Now().Add(writerIdle + time.Second))
	ts.s.mu.Lock()
	for _, st := range ts.s.uploads {
		if st.w != nil {
			t.Error("idle writer still open")
		}
	}
	ts.s.mu.Unlock()
	ts.patch(loc, 100, data[100:]).expect(t, http.StatusAccepted, "")
	ts.do("PUT", withDigest(loc, digest.FromBytes(data)), nil).expect(t, http.StatusCreated, "")
}

var _ = filepath.Join

// TestServerCloseWhileBusy: Close does not wait for a request stuck in a
// slow upload; the request lets go of the session's data when it ends,
// and a new server resumes the session.
func TestServerCloseWhileBusy(t *testing.T) {
	root := t.TempDir()
	ts := openTestServer(t, root)
	loc := ts.startSession("a")
	data := bytes.Repeat([]byte("slow "), 100000)
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("PATCH", ts.hs.URL+loc, pr)
	done := make(chan int)
	go func() {
		resp, err := ts.hs.Client().Do(req)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	pw.Write(data[:1000])
	waitFor(t, "the upload to start", func() bool {
		ts.s.mu.Lock()
		defer ts.s.mu.Unlock()
		return len(ts.s.uploads) == 1
	})
	closed := make(chan error)
	go func() { closed <- ts.s.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Close waited for a busy upload")
	}
	ts.do("GET", "/v2/", nil).expect(t, http.StatusServiceUnavailable, codeUnknown)
	pw.Write(data[1000:2000])
	pw.Close()
	if status := <-done; status != http.StatusInternalServerError {
		t.Errorf("the busy PATCH ended with %d", status)
	}

	ts2 := openTestServer(t, root)
	st := ts2.do("GET", loc, nil)
	st.expect(t, http.StatusNoContent, "")
	if st.Header.Get("Range") != "0-1999" {
		t.Fatalf("resumed at %q", st.Header.Get("Range"))
	}
	ts2.patch(loc, 2000, data[2000:]).expect(t, http.StatusAccepted, "")
	ts2.do("PUT", withDigest(loc, digest.FromBytes(data)), nil).expect(t, http.StatusCreated, "")
}
