package progress

import (
	"bytes"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestHumanSize(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0B", 512: "512B", 999: "999B", 1000: "1kB", 1050: "1.05kB", 12_345_678: "12.3MB",
		45_600_000: "45.6MB", 999_600: "1MB", 2_500_000_000: "2.5GB",
	} {
		if got := HumanSize(n); got != want {
			t.Errorf("HumanSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestLine(t *testing.T) {
	for _, tc := range []struct {
		name, status   string
		current, total int64
		want           string
	}{
		{"status", "Pulling fs layer", 0, 0, "abcdef012345: Pulling fs layer"},
		{"start", "Downloading", 0, 1000, "abcdef012345: Downloading [>" + strings.Repeat(" ", 49) + "]      0B/1kB"},
		{"half", "Downloading", 22_800_000, 45_600_000, "abcdef012345: Downloading [" + strings.Repeat("=", 25) + ">" + strings.Repeat(" ", 24) + "]  22.8MB/45.6MB"},
		{"full", "Downloading", 1000, 1000, "abcdef012345: Downloading [" + strings.Repeat("=", 50) + "]     1kB/1kB"},
		{"no total", "Extracting", 2_000_000, 0, "abcdef012345: Extracting      2MB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Line("abcdef012345", tc.status, tc.current, tc.total); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestShortID(t *testing.T) {
	if got := ShortID("sha256:abcdef0123456789abcdef"); got != "abcdef012345" {
		t.Errorf("ShortID = %q", got)
	}
	if got := ShortID("abc"); got != "abc" {
		t.Errorf("ShortID = %q", got)
	}
}

func TestPlain(t *testing.T) {
	var buf bytes.Buffer
	d := NewDisplay(&buf, false)
	d.Update("aaa", "Pulling fs layer", 0, 0)
	d.Update("bbb", "Pulling fs layer", 0, 0)
	d.Update("aaa", "Downloading", 0, 100)
	d.Update("aaa", "Downloading", 50, 100)
	d.Update("bbb", "Already exists", 0, 0)
	d.Update("aaa", "Verifying Checksum", 0, 0)
	d.Update("aaa", "Download complete", 0, 0)
	d.Update("aaa", "Download complete", 0, 0)
	d.Close()
	d.Update("aaa", "Pull complete", 0, 0) // after Close: dropped
	// Each status once, Downloading too, without its byte counts.
	want := "aaa: Pulling fs layer\nbbb: Pulling fs layer\naaa: Downloading\nbbb: Already exists\naaa: Verifying Checksum\naaa: Download complete\n"
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
}

// syncBuffer is a Buffer the Display's timer may write while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestTerminal(t *testing.T) {
	var buf syncBuffer
	d := NewDisplay(&buf, true)
	d.Update("aaa", "Pulling fs layer", 0, 0)
	// A burst of updates draws at most once per redrawEvery...
	start := time.Now()
	for i := range 1000 {
		d.Update("aaa", "Downloading", int64(i), 1000)
		d.Update("bbb", "Waiting", 0, 0)
	}
	elapsed := time.Since(start)
	redraws := (strings.Count(buf.String(), "\x1b[2K") - 1) / 2 // after the first line, two per redraw
	if limit := int(elapsed/redrawEvery) + 1; redraws > limit {
		t.Errorf("%d redraws during a burst of %v, want at most %d:\n%q", redraws, elapsed, limit, buf.String())
	}
	// ...until the timer draws the last state.
	time.Sleep(3 * redrawEvery)
	out := buf.String()
	if !strings.Contains(out, "\x1b[1A") || !strings.Contains(out, "aaa: Downloading [") || !strings.Contains(out, "999B/1kB") {
		t.Errorf("the timer did not redraw the last state:\n%q", out)
	}
	d.Update("aaa", "Download complete", 0, 0)
	d.Close()
	out = buf.String()
	last := out[strings.LastIndex(out, "\x1b[2A"):]
	if want := "\x1b[2A\x1b[2Kaaa: Download complete\n\x1b[2Kbbb: Waiting\n"; last != want {
		t.Errorf("final redraw %q, want %q", last, want)
	}
}

func TestIsTerminal(t *testing.T) {
	if IsTerminal(&bytes.Buffer{}) {
		t.Error("a buffer is not a terminal")
	}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if IsTerminal(f) {
		t.Error("a regular file is not a terminal")
	}
}
