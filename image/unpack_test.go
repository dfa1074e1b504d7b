package image

import (
	"io"
	"sync/atomic"
	"testing"
	"time"
)

// slowReader is an endless stream that notes any Read made after closed is
// set.
type slowReader struct {
	closed atomic.Bool
	late   atomic.Int32
}

func (r *slowReader) Read(p []byte) (int, error) {
	if r.closed.Load() {
		r.late.Add(1)
	}
	time.Sleep(time.Millisecond)
	if len(p) > 512 {
		p = p[:512]
	}
	return len(p), nil
}

// TestReadAheadCloseStopsReading: once Close returns, the reading goroutine
// must be done with the source, since the caller then closes the
// decompressor under it and returns from Unpack (whose progress callback
// that goroutine would otherwise still call).
func TestReadAheadCloseStopsReading(t *testing.T) {
	for _, tc := range []struct {
		name string
		read int // bytes the consumer reads before it gives up, as Apply may
	}{
		{"nothing read", 0},
		{"part read", 100},
		{"one buffer read", 4096},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := &slowReader{}
			ra := newReadAhead(src, 4096, 2)
			if tc.read > 0 {
				if _, err := io.ReadFull(ra, make([]byte, tc.read)); err != nil {
					t.Fatal(err)
				}
			}
			ra.Close()
			src.closed.Store(true)
			time.Sleep(50 * time.Millisecond)
			if n := src.late.Load(); n > 0 {
				t.Fatalf("the source was read %d times after Close returned", n)
			}
		})
	}
}
