package runtime

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// A sealed copy has the binary's bytes, cannot be written, and is told
// apart from a plain file, which IsSealed refuses.
func TestSealedCopy(t *testing.T) {
	src := filepath.Join(t.TempDir(), "bin")
	want := bytes.Repeat([]byte("berth"), 1000)
	if err := os.WriteFile(src, want, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := SealedCopy(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !IsSealed(f.Fd()) {
		t.Fatal("IsSealed(copy) = false")
	}
	got, err := io.ReadAll(io.NewSectionReader(f, 0, int64(len(want))+1))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("copy differs (%d bytes, %v)", len(got), err)
	}
	if _, err := f.WriteAt([]byte("x"), 0); err == nil {
		t.Fatal("a write to the sealed copy succeeded")
	}
	plain, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if IsSealed(plain.Fd()) {
		t.Fatal("IsSealed(plain file) = true")
	}
}
