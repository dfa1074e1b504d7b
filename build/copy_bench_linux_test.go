package build

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// benchContext makes a context of files small and large (about 64 MiB).
func benchContext(b *testing.B) string {
	b.Helper()
	dir := b.TempDir()
	big := make([]byte, 4<<20)
	rand.Read(big)
	for i := 0; i < 8; i++ {
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("big%d", i)), big, 0o644)
	}
	small := big[:4096]
	for i := 0; i < 8000; i++ {
		d := filepath.Join(dir, "src", fmt.Sprintf("d%02d", i%50))
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, fmt.Sprintf("f%d.go", i)), small, 0o644)
	}
	return dir
}

// BenchmarkChecksum is a cached rebuild's COPY . cost: the context hashed
// once (nothing cached), and again (per-file hashes reused).
func BenchmarkChecksum(b *testing.B) {
	dir := benchContext(b)
	req := CopyRequest{SrcRoot: dir, FromContext: true, Sources: []string{"."}, Dest: "/app/"}
	b.Run("cold", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			hashCache.Lock()
			hashCache.m = map[fileKey][32]byte{}
			hashCache.Unlock()
			if _, err := Checksum(context.Background(), req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("warm", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := Checksum(context.Background(), req); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCopy is COPY . of the same context into a fresh directory.
func BenchmarkCopy(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	dir := benchContext(b)
	req := CopyRequest{SrcRoot: dir, FromContext: true, Sources: []string{"."}, Dest: "/app/"}
	for i := 0; i < b.N; i++ {
		root := b.TempDir()
		if err := Copy(context.Background(), root, req); err != nil {
			b.Fatal(err)
		}
	}
}
