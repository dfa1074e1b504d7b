package content_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/content"
	"github.com/berth-project/berth/content/contenttest"
)

func TestLocal(t *testing.T) {
	contenttest.Run(t, func(t *testing.T, root string) content.Store {
		s, err := content.NewLocal(root)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestLocalCommitOtherAlgorithm: a write that did not know its digest
// (hashed as sha256) commits under a sha512 name after a second pass over
// the data, and a wrong sha512 digest is refused.
func TestLocalCommitOtherAlgorithm(t *testing.T) {
	ctx := context.Background()
	blob := bytes.Repeat([]byte("sha512 blob "), 200000)
	right := digest.SHA512.FromBytes(blob)
	tests := []struct {
		name    string
		commit  digest.Digest
		wantErr error
	}{
		{"right", right, nil},
		{"wrong", digest.SHA512.FromString("other"), content.ErrInvalid},
		{"sha256", digest.FromBytes(blob), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := content.NewLocal(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			w, err := s.Writer(ctx, "upload", ocispec.Descriptor{})
			if err != nil {
				t.Fatal(err)
			}
			w.Write(blob[:1000])
			w.Write(blob[1000:])
			err = w.Commit(ctx, int64(len(blob)), tc.commit)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("commit as %s: %v, want %v", tc.commit, err, tc.wantErr)
			}
			if tc.wantErr != nil {
				if _, err := s.Info(ctx, tc.commit); !errors.Is(err, content.ErrNotFound) {
					t.Fatalf("refused blob is visible: %v", err)
				}
				return
			}
			p, err := s.BlobPath(tc.commit)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(p, filepath.Join("blobs", tc.commit.Algorithm().String())) {
				t.Errorf("blob at %s", p)
			}
			got, err := content.ReadBlob(ctx, s, ocispec.Descriptor{Digest: tc.commit, Size: int64(len(blob))})
			if err != nil || !bytes.Equal(got, blob) {
				t.Fatalf("read back: %v", err)
			}
		})
	}
}
