package registry

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"

	"github.com/berth-project/berth/content"
)

// benchBlob makes a server with one blob of size bytes in repository
// "bench", and returns it with the blob's digest.
func benchBlob(b *testing.B, size int64) (*Server, digest.Digest) {
	s, err := NewServer(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	data := bytes.Repeat([]byte("0123456789abcdef"), int(size/16))
	d := digest.FromBytes(data)
	if err := content.WriteBlob(context.Background(), s.store, bytes.NewReader(data), ocispec.Descriptor{Digest: d, Size: size}); err != nil {
		b.Fatal(err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		rb, err := createRepo(tx, "bench")
		if err != nil {
			return err
		}
		return rb.linkBlob(d, size)
	})
	if err != nil {
		b.Fatal(err)
	}
	return s, d
}

var benchSizes = []struct {
	name string
	size int64
}{{"64KiB", 64 << 10}, {"64MiB", 64 << 20}}

// BenchmarkBlobGet measures a blob GET from the server and the same file
// from a minimal http.FileServer. Both should be bound by the kernel's
// sendfile; the server's extra work (a bbolt read, a few headers) is lost
// in the noise. Run each alone, neighbours in one process disturb each
// other:
//
//	go test ./registry/ -run '^$' -bench 'BlobGet/64MiB/registry$'
func BenchmarkBlobGet(b *testing.B) {
	for _, bs := range benchSizes {
		b.Run(bs.name+"/registry", func(b *testing.B) {
			s, d := benchBlob(b, bs.size)
			benchmarkGet(b, s, "/v2/bench/blobs/"+d.String(), bs.size)
		})
		b.Run(bs.name+"/fileserver", func(b *testing.B) {
			s, d := benchBlob(b, bs.size)
			benchmarkGet(b, http.FileServer(http.Dir(filepath.Join(s.root, "blobs"))), "/sha256/"+d.Encoded(), bs.size)
		})
	}
}

// BenchmarkBlobGetRatio alternates GETs from the server and from an
// http.FileServer of the same file, so that both see the same machine,
// and reports the server's throughput as a fraction of the file server's.
func BenchmarkBlobGetRatio(b *testing.B) {
	for _, bs := range benchSizes {
		b.Run(bs.name, func(b *testing.B) {
			s, d := benchBlob(b, bs.size)
			reg := httptest.NewServer(s)
			defer reg.Close()
			fs := httptest.NewServer(http.FileServer(http.Dir(filepath.Join(s.root, "blobs"))))
			defer fs.Close()
			buf := make([]byte, 1<<20)
			get := func(c *http.Client, u string) time.Duration {
				start := time.Now()
				resp, err := c.Get(u)
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{resp.Body}, buf)
				resp.Body.Close()
				if err != nil || n != bs.size {
					b.Fatalf("GET %s: %d bytes, %v", u, n, err)
				}
				return time.Since(start)
			}
			regURL, fsURL := reg.URL+"/v2/bench/blobs/"+d.String(), fs.URL+"/sha256/"+d.Encoded()
			get(reg.Client(), regURL)
			get(fs.Client(), fsURL)
			var regTime, fsTime time.Duration
			b.SetBytes(2 * bs.size)
			b.ResetTimer()
			for i := range b.N {
				if i%2 == 0 {
					regTime += get(reg.Client(), regURL)
					fsTime += get(fs.Client(), fsURL)
				} else {
					fsTime += get(fs.Client(), fsURL)
					regTime += get(reg.Client(), regURL)
				}
			}
			b.ReportMetric(float64(fsTime)/float64(regTime), "registry/fileserver")
		})
	}
}

func benchmarkGet(b *testing.B, h http.Handler, path string, size int64) {
	hs := httptest.NewServer(h)
	defer hs.Close()
	client := hs.Client()
	buf := make([]byte, 1<<20)
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		resp, err := client.Get(hs.URL + path)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{resp.Body}, buf)
		resp.Body.Close()
		if err != nil || n != size || resp.StatusCode != http.StatusOK {
			b.Fatalf("GET %s: %s, %d bytes, %v", path, resp.Status, n, err)
		}
	}
}
