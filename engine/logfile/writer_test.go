package logfile

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// writtenEntry is one decoded line of a json-file log.
type writtenEntry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

// readEntries decodes a json-file log, failing on any malformed line.
func readEntries(t *testing.T, path string) []writtenEntry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []writtenEntry
	s := bufio.NewScanner(f)
	s.Buffer(nil, 1<<20)
	for s.Scan() {
		var e writtenEntry
		if err := json.Unmarshal(s.Bytes(), &e); err != nil {
			t.Fatalf("%s: bad line %q: %v", path, s.Text(), err)
		}
		out = append(out, e)
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAppendEntry(t *testing.T) {
	ts := time.Date(2024, 5, 6, 7, 8, 9, 120000000, time.FixedZone("X", 3600))
	tests := []struct {
		name, stream, line, want string
		t                        time.Time
	}{
		{"plain", "stdout", "hello\n", `{"log":"hello\n","stream":"stdout","time":"2024-05-06T06:08:09.12Z"}` + "\n", ts},
		{"partial", "stderr", "no newline", `{"log":"no newline","stream":"stderr","time":"2024-05-06T06:08:09.12Z"}` + "\n", ts},
		{"whole second", "stdout", "x\n", `{"log":"x\n","stream":"stdout","time":"2024-05-06T06:08:09Z"}` + "\n", ts.Truncate(time.Second)},
		{"nanoseconds", "stdout", "x\n", `{"log":"x\n","stream":"stdout","time":"2024-05-06T06:08:09.000000001Z"}` + "\n", ts.Truncate(time.Second).Add(1)},
		{"quotes and backslash", "stdout", `a "b" \c` + "\n", `{"log":"a \"b\" \\c\n","stream":"stdout","time":"2024-05-06T06:08:09.12Z"}` + "\n", ts},
		{"html", "stdout", "<a&b>\n", `{"log":"\u003ca\u0026b\u003e\n","stream":"stdout","time":"2024-05-06T06:08:09.12Z"}` + "\n", ts},
		{"controls", "stdout", "\t\r\x1b[0m\x00\x7f\n", `{"log":"\u0009\r\u001b[0m\u0000` + "\x7f" + `\n","stream":"stdout","time":"2024-05-06T06:08:09.12Z"}` + "\n", ts},
		{"utf-8", "stdout", "héllo ✓ 😀\n", `{"log":"héllo ✓ 😀\n","stream":"stdout","time":"2024-05-06T06:08:09.12Z"}` + "\n", ts},
		{"invalid utf-8", "stdout", "a\xffb\xe2\x82\n", `{"log":"a\ufffdb\ufffd\ufffd\n","stream":"stdout","time":"2024-05-06T06:08:09.12Z"}` + "\n", ts},
		{"line separators", "stdout", "a\u2028b\u2029\n", `{"log":"a\u2028b\u2029\n","stream":"stdout","time":"2024-05-06T06:08:09.12Z"}` + "\n", ts},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := string(appendEntry(nil, tc.stream, []byte(tc.line), tc.t))
			if got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
			var e writtenEntry
			if err := json.Unmarshal([]byte(got), &e); err != nil {
				t.Fatalf("not JSON: %v", err)
			}
			if !e.Time.Equal(tc.t) || e.Stream != tc.stream {
				t.Fatalf("decoded %+v", e)
			}
			if !strings.Contains(tc.name, "invalid") && e.Log != tc.line {
				t.Fatalf("decoded log %q, want %q", e.Log, tc.line)
			}
		})
	}
}

func TestWriterAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ctr-json.log")
	t0 := time.Now()
	w, err := NewWriter(WriterConfig{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	w.Write("stdout", []byte("one\n"), t0)
	w.Write("stderr", []byte("two"), t0.Add(time.Millisecond))
	w.Write("stdout", nil, t0) // nothing to log
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Write("stdout", []byte("late\n"), t0); err == nil {
		t.Fatal("write after close succeeded")
	}
	// A new writer appends (a restarted container logs to the same file).
	w, err = NewWriter(WriterConfig{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	w.Write("stdout", []byte("three\n"), t0.Add(2*time.Millisecond))
	w.Close()
	got := readEntries(t, path)
	want := []writtenEntry{{"one\n", "stdout", t0}, {"two", "stderr", t0.Add(time.Millisecond)}, {"three\n", "stdout", t0.Add(2 * time.Millisecond)}}
	if len(got) != len(want) {
		t.Fatalf("entries %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Log != want[i].Log || got[i].Stream != want[i].Stream || !got[i].Time.Equal(want[i].Time) {
			t.Errorf("entry %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != fileMode {
		t.Errorf("mode %v, want %v", fi.Mode().Perm(), os.FileMode(fileMode))
	}
}

func TestWriterRotation(t *testing.T) {
	tests := []struct {
		name     string
		maxFiles int
		files    []string // that must exist, newest first
	}{
		{"three files", 3, []string{"", ".1", ".2"}},
		{"default one file", 0, []string{""}},
		{"two files", 2, []string{"", ".1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "log")
			const maxSize = 1000
			w, err := NewWriter(WriterConfig{Path: path, MaxSize: maxSize, MaxFiles: tc.maxFiles})
			if err != nil {
				t.Fatal(err)
			}
			t0 := time.Now()
			const n = 200
			for i := 0; i < n; i++ {
				if err := w.Write("stdout", fmt.Appendf(nil, "line %03d\n", i), t0); err != nil {
					t.Fatal(err)
				}
			}
			w.Close()
			names, _ := filepath.Glob(path + "*")
			if len(names) != len(tc.files) {
				t.Fatalf("files %v, want %d", names, len(tc.files))
			}
			// Newest first: PATH ends with the last line, and each file
			// carries on where the older one stopped.
			next := n
			for _, suffix := range tc.files {
				p := path + suffix
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Size() > maxSize || fi.Size() == 0 {
					t.Errorf("%s: size %d, want 1..%d", p, fi.Size(), maxSize)
				}
				es := readEntries(t, p)
				for i := len(es) - 1; i >= 0; i-- {
					next--
					if want := fmt.Sprintf("line %03d\n", next); es[i].Log != want {
						t.Fatalf("%s entry %d: %q, want %q", p, i, es[i].Log, want)
					}
				}
			}
		})
	}
}

func TestWriterRejects(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		c    WriterConfig
		want string
	}{
		{"no path", WriterConfig{}, "no path"},
		{"negative size", WriterConfig{Path: filepath.Join(dir, "a"), MaxSize: -1}, "negative"},
		{"negative files", WriterConfig{Path: filepath.Join(dir, "b"), MaxFiles: -2}, "negative"},
		{"missing directory", WriterConfig{Path: filepath.Join(dir, "nodir", "log")}, "no such file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewWriter(tc.c); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if tc.c.Path != "" {
				if _, err := os.Stat(tc.c.Path); err == nil {
					t.Fatal("a file was left behind")
				}
			}
		})
	}
}

// TestWriterFullDevice writes to /dev/full (ENOSPC on every write): each
// entry is dropped and counted, and Write returns at once.
func TestWriterFullDevice(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("needs /dev/full")
	}
	path := filepath.Join(t.TempDir(), "log")
	if err := os.Symlink("/dev/full", path); err != nil {
		t.Fatal(err)
	}
	w, err := NewWriter(WriterConfig{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i := 0; i < 3; i++ {
		err := w.Write("stdout", []byte("x\n"), time.Now())
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("write %d: %v, want ENOSPC", i, err)
		}
	}
	if n, err := w.Dropped(); n != 3 || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("dropped %d (%v), want 3", n, err)
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  string
	}{
		{"10", 10, ""},
		{"10b", 10, ""},
		{"10B", 10, ""},
		{"1k", 1000, ""},
		{"1K", 1000, ""},
		{"1kb", 1000, ""},
		{"1KiB", 1000, ""},
		{"10m", 10_000_000, ""},
		{"10M", 10_000_000, ""},
		{"2g", 2_000_000_000, ""},
		{"1.5k", 1500, ""},
		{"3 m", 3_000_000, ""},
		{"0", 0, ""},
		{"", 0, "invalid size: ''"},
		{"m", 0, "invalid size: 'm'"},
		{"-1", 0, "invalid size: '-1'"},
		{"10x", 0, "invalid suffix: 'x'"},
		{"10kx", 0, "invalid suffix: 'kx'"},
		{"10bb", 0, "invalid suffix: 'bb'"},
		{"10MBBB", 0, "invalid suffix: 'MBBB'"},
		{"1.2.3k", 0, `strconv.ParseFloat: parsing "1.2.3": invalid syntax`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseSize(tc.in)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

func TestParseLogOpts(t *testing.T) {
	tests := []struct {
		name     string
		opts     map[string]string
		size     int64
		files    int
		err      string
		errMatch bool
	}{
		{"none", nil, 0, 1, "", false},
		{"size and files", map[string]string{"max-size": "10m", "max-file": "3"}, 10_000_000, 3, "", false},
		{"ignored attributes", map[string]string{"labels": "a", "env": "B", "tag": "{{.Name}}", "compress": "false"}, 0, 1, "", false},
		{"unknown", map[string]string{"max-size": "1k", "bogus": "1"}, 0, 0, "unknown log opt 'bogus' for json-file log driver", false},
		{"zero size", map[string]string{"max-size": "0"}, 0, 0, "max-size must be a positive number", false},
		{"bad size", map[string]string{"max-size": "ten"}, 0, 0, "invalid size: 'ten'", false},
		{"zero files", map[string]string{"max-file": "0"}, 0, 0, "max-file cannot be less than 1", false},
		{"bad files", map[string]string{"max-file": "x"}, 0, 0, `strconv.Atoi: parsing "x": invalid syntax`, false},
		{"compress one file", map[string]string{"compress": "true"}, 0, 0, "compress cannot be true when max-file is less than 2 or max-size is not set", false},
		{"compress", map[string]string{"compress": "true", "max-size": "1m", "max-file": "2"}, 0, 0, "not supported", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			size, files, err := ParseLogOpts(tc.opts)
			if tc.err != "" {
				if err == nil || (!tc.errMatch && err.Error() != tc.err) || (tc.errMatch && !strings.Contains(err.Error(), tc.err)) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || size != tc.size || files != tc.files {
				t.Fatalf("got %d %d %v; want %d %d", size, files, err, tc.size, tc.files)
			}
		})
	}
}
