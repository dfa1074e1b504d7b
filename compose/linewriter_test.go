package compose

import (
	"bytes"
	"sync"
	"testing"
)

// TestLineWriters: the attached output of up and the output of logs cut
// what comes in pieces into whole lines behind their prefix; up turns a
// whole line's "\r\n" into "\n", logs keeps it; a last line without a
// newline gets one.
func TestLineWriters(t *testing.T) {
	chunks := []string{"one\r\ntw", "o\nthr", "ee\r"}
	var up bytes.Buffer
	var mu sync.Mutex
	w := prefixWriter(&mu, &up, "web-1  | ")
	for _, c := range chunks {
		w.Write([]byte(c))
	}
	w.flush()
	if want := "web-1  | one\nweb-1  | two\nweb-1  | three\r\n"; up.String() != want {
		t.Errorf("up: %q, want %q", up.String(), want)
	}
	var out, errOut bytes.Buffer
	p := newLogPrinter("proj", LogsOptions{Stdout: &out, Stderr: &errOut})
	p.width = 6
	lw, ew := p.writer("web-1", false), p.writer("web-1", true)
	for _, c := range chunks {
		lw.Write([]byte(c))
	}
	ew.Write([]byte("oops"))
	lw.flush()
	ew.flush()
	if want := "web-1  | one\r\nweb-1  | two\nweb-1  | three\r\n"; out.String() != want {
		t.Errorf("logs stdout: %q, want %q", out.String(), want)
	}
	if want := "web-1  | oops\n"; errOut.String() != want {
		t.Errorf("logs stderr: %q, want %q", errOut.String(), want)
	}
}
