package image

import (
	"context"
	"errors"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestRecordsFind(t *testing.T) {
	ctx := context.Background()
	r, err := OpenRecords(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	id1 := digest.Digest("sha256:abcd000000000000000000000000000000000000000000000000000000000001")
	id2 := digest.Digest("sha256:abcd000000000000000000000000000000000000000000000000000000000002")
	for _, rec := range []Record{
		{Name: "docker.io/library/busybox:latest", Config: ocispec.Descriptor{Digest: id1}},
		{Name: "docker.io/library/busybox:1", Config: ocispec.Descriptor{Digest: id1}},
		{Name: "localhost:5000/app:v1", Config: ocispec.Descriptor{Digest: id2}},
	} {
		if err := r.Put(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		in   string
		n    int
		want error
	}{
		{"busybox", 1, nil},
		{"busybox:1", 1, nil},
		{"docker.io/library/busybox:latest", 1, nil},
		{"localhost:5000/app:v1", 1, nil},
		{id1.String(), 2, nil},
		{id1.Encoded()[:12], 0, ErrConflict}, // both ids share the prefix
		{id2.Encoded(), 1, nil},
		{"abc", 0, ErrNotFound}, // too short to be an ID, and no such name
		{"nginx", 0, ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := r.Find(ctx, tc.in)
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("Find: %v, want %v", err, tc.want)
				}
				return
			}
			if err != nil || len(got) != tc.n {
				t.Fatalf("Find: %d records, %v; want %d", len(got), err, tc.n)
			}
		})
	}
	if err := r.Delete(ctx, "docker.io/library/busybox:1"); err != nil {
		t.Fatal(err)
	}
	if err := r.Delete(ctx, "docker.io/library/busybox:1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	all, _ := r.List(ctx)
	if len(all) != 2 {
		t.Fatalf("%d records left, want 2", len(all))
	}
}
