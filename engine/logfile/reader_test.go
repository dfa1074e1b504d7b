package logfile

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
)

// t0 is the time of the first entry the tests write; entry i is i seconds
// later.
var t0 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

// jsonLine is one line as docker's json-file driver writes it.
func jsonLine(stream, msg string, at time.Time) string {
	b, err := json.Marshal(struct {
		Log    string `json:"log"`
		Stream string `json:"stream"`
		Time   string `json:"time"`
	}{msg, stream, at.UTC().Format(time.RFC3339Nano)})
	if err != nil {
		panic(err)
	}
	return string(b) + "\n"
}

// lines is the file content of entries "<prefix>i\n" for i in [from, to),
// on stdout, at t0+i seconds.
func lines(prefix string, from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		b.WriteString(jsonLine("stdout", fmt.Sprintf("%s%d\n", prefix, i), t0.Add(time.Duration(i)*time.Second)))
	}
	return b.String()
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o640); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, path, content string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
}

func writeGzip(t *testing.T, path, content string) {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(content))
	zw.Close()
	writeFile(t, path, b.String())
}

// readAll reads a whole (non-following) log and splits it by stream.
func readAll(t *testing.T, path string, o ReadOptions) (stdout, stderr string) {
	t.Helper()
	rc, err := Read(context.Background(), path, o)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if o.Raw {
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		return string(b), ""
	}
	var out, errb bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &errb, rc); err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String()
}

func both() ReadOptions { return ReadOptions{Stdout: true, Stderr: true, Tail: -1} }

// A file as docker 28's json-file driver writes it: HTML characters
// escaped, non-ASCII raw, trailing zeros of the time trimmed, a 16 KiB
// split (an entry without its newline), attrs from --log-opt labels.
const dockerSample = `{"log":"hello \u003cworld\u003e \u0026 café\n","stream":"stdout","time":"2024-05-01T10:00:00.123456789Z"}
{"log":"warning: disk\tfull\r\n","stream":"stderr","time":"2024-05-01T10:00:01.5Z"}
{"log":"part one ","stream":"stdout","time":"2024-05-01T10:00:02Z"}
{"log":"part two\n","stream":"stdout","time":"2024-05-01T10:00:02.000000001Z"}
{"log":"labelled\n","stream":"stdout","attrs":{"com.example.team":"a b","env":"prod"},"time":"2024-05-01T10:00:03.25Z"}
`

func TestReadDockerSample(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ctr-json.log")
	writeFile(t, path, dockerSample)

	t.Run("streams", func(t *testing.T) {
		out, errs := readAll(t, path, both())
		if want := "hello <world> & café\npart one part two\nlabelled\n"; out != want {
			t.Errorf("stdout = %q, want %q", out, want)
		}
		if want := "warning: disk\tfull\r\n"; errs != want {
			t.Errorf("stderr = %q, want %q", errs, want)
		}
	})
	t.Run("frames", func(t *testing.T) {
		rc, err := Read(context.Background(), path, ReadOptions{Stdout: true, Stderr: true, Tail: 2})
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		b, _ := io.ReadAll(rc)
		var want []byte
		for _, p := range []string{"part two\n", "labelled\n"} {
			hdr := []byte{1, 0, 0, 0, 0, 0, 0, 0}
			binary.BigEndian.PutUint32(hdr[4:], uint32(len(p)))
			want = append(append(want, hdr...), p...)
		}
		if !bytes.Equal(b, want) {
			t.Errorf("bytes = %q, want %q", b, want)
		}
	})
	t.Run("timestamps", func(t *testing.T) {
		o := both()
		o.Timestamps = true
		out, errs := readAll(t, path, o)
		want := "2024-05-01T10:00:00.123456789Z hello <world> & café\n" +
			"2024-05-01T10:00:02.000000000Z part one 2024-05-01T10:00:02.000000001Z part two\n" +
			"2024-05-01T10:00:03.250000000Z labelled\n"
		if out != want {
			t.Errorf("stdout = %q, want %q", out, want)
		}
		if want := "2024-05-01T10:00:01.500000000Z warning: disk\tfull\r\n"; errs != want {
			t.Errorf("stderr = %q, want %q", errs, want)
		}
	})
	t.Run("details", func(t *testing.T) {
		o := both()
		o.Details, o.Tail = true, 2
		out, _ := readAll(t, path, o)
		if want := " part two\ncom.example.team=a+b,env=prod labelled\n"; out != want {
			t.Errorf("stdout = %q, want %q", out, want)
		}
	})
	t.Run("raw", func(t *testing.T) {
		o := both()
		o.Raw, o.Tail = true, 3
		out, _ := readAll(t, path, o)
		if want := "part one part two\nlabelled\n"; out != want {
			t.Errorf("raw = %q, want %q", out, want)
		}
	})
}

func TestReadStreams(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	writeFile(t, path, jsonLine("stdout", "o1\n", t0)+jsonLine("stderr", "e1\n", t0)+
		jsonLine("stdout", "o2\n", t0)+jsonLine("stderr", "e2\n", t0))
	for _, tc := range []struct {
		name             string
		stdout, stderr   bool
		wantOut, wantErr string
	}{
		{name: "both", stdout: true, stderr: true, wantOut: "o1\no2\n", wantErr: "e1\ne2\n"},
		{name: "stdout", stdout: true, wantOut: "o1\no2\n"},
		{name: "stderr", stderr: true, wantErr: "e1\ne2\n"},
		{name: "neither"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errs := readAll(t, path, ReadOptions{Stdout: tc.stdout, Stderr: tc.stderr, Tail: -1})
			if out != tc.wantOut || errs != tc.wantErr {
				t.Errorf("got %q/%q, want %q/%q", out, errs, tc.wantOut, tc.wantErr)
			}
		})
	}
	t.Run("tail counts both streams", func(t *testing.T) {
		out, _ := readAll(t, path, ReadOptions{Stdout: true, Tail: 2})
		if out != "o2\n" {
			t.Errorf("stdout = %q, want %q", out, "o2\n")
		}
	})
}

func TestReadTail(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "log")
	// log.3.gz: 0-2, log.2: 3-5, log.1: 6-8, log: 9-11 plus half a line.
	writeGzip(t, path+".3.gz", lines("l", 0, 3))
	writeFile(t, path+".2", lines("l", 3, 6))
	writeFile(t, path+".1", lines("l", 6, 9))
	writeFile(t, path, lines("l", 9, 12)+`{"log":"unfinished`)
	want := func(from, to int) string {
		var b strings.Builder
		for i := from; i < to; i++ {
			fmt.Fprintf(&b, "l%d\n", i)
		}
		return b.String()
	}
	for _, tc := range []struct {
		tail int
		want string
	}{
		{-1, want(0, 12)},
		{0, ""},
		{1, want(11, 12)},
		{3, want(9, 12)},
		{4, want(8, 12)},
		{7, want(5, 12)},
		{10, want(2, 12)},
		{12, want(0, 12)},
		{100, want(0, 12)},
	} {
		t.Run(fmt.Sprint(tc.tail), func(t *testing.T) {
			out, _ := readAll(t, path, ReadOptions{Stdout: true, Tail: tc.tail})
			if out != tc.want {
				t.Errorf("tail %d = %q, want %q", tc.tail, out, tc.want)
			}
		})
	}

	t.Run("large file", func(t *testing.T) {
		// Many blocks of the backwards scan, lines longer than a block.
		big := filepath.Join(t.TempDir(), "log")
		var b strings.Builder
		for i := range 20000 {
			msg := fmt.Sprintf("n%d\n", i)
			if i%5000 == 0 {
				msg = strings.Repeat("x", 100<<10) + msg
			}
			b.WriteString(jsonLine("stdout", msg, t0))
		}
		writeFile(t, big, b.String())
		for _, tc := range []struct {
			tail int
			want string
		}{
			{2, "n19998\nn19999\n"},
			{5000, strings.Repeat("x", 100<<10) + "n15000\n"},
		} {
			out, _ := readAll(t, big, ReadOptions{Stdout: true, Tail: tc.tail})
			if first, _, _ := strings.Cut(out, "\n"); first+"\n" != tc.want[:strings.Index(tc.want, "\n")+1] {
				t.Errorf("tail %d starts with %.40q..., want %.40q...", tc.tail, first, tc.want)
			}
			if n := strings.Count(out, "\n"); n != tc.tail {
				t.Errorf("tail %d gave %d lines", tc.tail, n)
			}
		}
	})
}

func TestReadSinceUntil(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "log")
	writeFile(t, path+".1", lines("l", 0, 5))
	writeFile(t, path, lines("l", 5, 10))
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
	for _, tc := range []struct {
		name         string
		since, until time.Time
		tail         int
		want         string
	}{
		{name: "since", since: at(7), tail: -1, want: "l7\nl8\nl9\n"},
		{name: "since between", since: at(7).Add(time.Millisecond), tail: -1, want: "l8\nl9\n"},
		{name: "until", until: at(2), tail: -1, want: "l0\nl1\nl2\n"},
		{name: "window across files", since: at(3), until: at(6), tail: -1, want: "l3\nl4\nl5\nl6\n"},
		{name: "tail then since", since: at(7), tail: 5, want: "l7\nl8\nl9\n"},
		{name: "tail then until", until: at(6), tail: 5, want: "l5\nl6\n"},
		{name: "since after all", since: at(20), tail: -1, want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, _ := readAll(t, path, ReadOptions{Stdout: true, Since: tc.since, Until: tc.until, Tail: tc.tail})
			if out != tc.want {
				t.Errorf("got %q, want %q", out, tc.want)
			}
		})
	}
}

func TestReadDamaged(t *testing.T) {
	for _, tc := range []struct {
		name, content, want string
	}{
		{
			name:    "corrupt line in the middle",
			content: lines("l", 0, 2) + "{\"log\":\"broken\n" + "not json at all\n" + lines("l", 2, 3),
			want:    "l0\nl1\nl2\n",
		},
		{
			name:    "incomplete last line",
			content: lines("l", 0, 2) + `{"log":"half`,
			want:    "l0\nl1\n",
		},
		{
			name:    "empty lines and unknown stream",
			content: "\n" + jsonLine("stdin", "x\n", t0) + lines("l", 0, 1) + "\n",
			want:    "l0\n",
		},
		{name: "empty file", content: "", want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "log")
			writeFile(t, path, tc.content)
			if out, _ := readAll(t, path, both()); out != tc.want {
				t.Errorf("got %q, want %q", out, tc.want)
			}
		})
	}
}

func TestReadMissing(t *testing.T) {
	dir := t.TempDir()
	t.Run("no file", func(t *testing.T) {
		out, errs := readAll(t, filepath.Join(dir, "log"), both())
		if out != "" || errs != "" {
			t.Errorf("got %q/%q, want nothing", out, errs)
		}
	})
	t.Run("only rotated files", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "log")
		writeFile(t, path+".1", lines("l", 0, 2))
		if out, _ := readAll(t, path, both()); out != "l0\nl1\n" {
			t.Errorf("got %q", out)
		}
	})
	t.Run("no directory", func(t *testing.T) {
		path := filepath.Join(dir, "gone", "log")
		rc, err := Read(context.Background(), path, both())
		if err == nil {
			rc.Close()
			t.Fatal("Read of a log in a missing directory succeeded")
		}
		if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), path) {
			t.Errorf("err = %v, want not-exist naming %s", err, path)
		}
	})
}

// frames reads a following stream frame by frame in the background.
type frames struct {
	c   chan string // "1:payload" or "2:payload"; closed at the end
	err error       // the stream's end (nil: EOF), set before c is closed
}

func readFrames(r io.Reader) *frames {
	f := &frames{c: make(chan string, 100)}
	go func() {
		defer close(f.c)
		hdr := make([]byte, 8)
		for {
			if _, err := io.ReadFull(r, hdr); err != nil {
				if err != io.EOF {
					f.err = err
				}
				return
			}
			p := make([]byte, binary.BigEndian.Uint32(hdr[4:]))
			if _, err := io.ReadFull(r, p); err != nil {
				f.err = err
				return
			}
			f.c <- fmt.Sprintf("%d:%s", hdr[0], p)
		}
	}()
	return f
}

// expect reads the next frames and compares them with want. The deadline
// only keeps a broken reader from hanging the test.
func (f *frames) expect(t *testing.T, want ...string) {
	t.Helper()
	for _, w := range want {
		select {
		case got, ok := <-f.c:
			if !ok {
				t.Fatalf("stream ended (%v) before frame %q", f.err, w)
			}
			if got != w {
				t.Fatalf("frame = %q, want %q", got, w)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("no frame %q", w)
		}
	}
}

func (f *frames) expectEnd(t *testing.T) {
	t.Helper()
	select {
	case got, ok := <-f.c:
		if ok {
			t.Fatalf("frame %q, want the end", got)
		}
		if f.err != nil {
			t.Fatalf("stream ended with %v", f.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("stream did not end")
	}
}

func TestReadFollow(t *testing.T) {
	t.Run("inotify", testReadFollow)
	t.Run("poll", func(t *testing.T) {
		watchDir = func(string) (watcher, error) { return nil, errors.New("polling") }
		defer func() { watchDir = newWatcher }()
		testReadFollow(t)
	})
}

func testReadFollow(t *testing.T) {
	t.Run("append, rotate, stop", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "log")
		writeFile(t, path, lines("a", 0, 2))
		stop := make(chan struct{})
		rc, err := Read(context.Background(), path, ReadOptions{Stdout: true, Stderr: true, Tail: 1, Follow: true, Stop: stop})
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		f := readFrames(rc)
		f.expect(t, "1:a1\n")

		appendFile(t, path, lines("a", 2, 3)+jsonLine("stderr", "e\n", t0))
		f.expect(t, "1:a2\n", "2:e\n")

		// A line written in two parts is given once whole.
		appendFile(t, path, `{"log":"spl`)
		appendFile(t, path, `it\n","stream":"stdout","time":"2024-05-01T10:01:00Z"}`+"\n")
		f.expect(t, "1:split\n")

		// Rotation as the writer does it: the old file gets its last
		// line and is closed, the files move up, and a new file starts.
		appendFile(t, path, lines("b", 0, 1))
		if err := os.Rename(path, path+".1"); err != nil {
			t.Fatal(err)
		}
		writeFile(t, path, lines("c", 0, 1))
		f.expect(t, "1:b0\n", "1:c0\n")

		// Lines written before the stop come out, then the end.
		appendFile(t, path, lines("c", 1, 3))
		close(stop)
		f.expect(t, "1:c1\n", "1:c2\n")
		f.expectEnd(t)
	})

	t.Run("file appears later", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "log")
		rc, err := Read(context.Background(), path, ReadOptions{Stdout: true, Tail: -1, Follow: true})
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		f := readFrames(rc)
		writeFile(t, path, lines("a", 0, 1))
		f.expect(t, "1:a0\n")
	})

	t.Run("rotated twice while away", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "log")
		writeFile(t, path, lines("a", 0, 1))
		stop := make(chan struct{})
		rc, err := Read(context.Background(), path, ReadOptions{Stdout: true, Tail: -1, Follow: true, Stop: stop})
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		f := readFrames(rc)
		f.expect(t, "1:a0\n")
		// Hold the consumer back by not reading while two rotations
		// happen; the reader must go a -> b -> c.
		appendFile(t, path, lines("a", 1, 2))
		os.Rename(path, path+".1")
		writeFile(t, path, lines("b", 0, 1))
		os.Rename(path+".1", path+".2")
		os.Rename(path, path+".1")
		writeFile(t, path, lines("c", 0, 1))
		close(stop)
		f.expect(t, "1:a1\n", "1:b0\n", "1:c0\n")
		f.expectEnd(t)
	})

	t.Run("truncated", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "log")
		writeFile(t, path, lines("a", 0, 3))
		rc, err := Read(context.Background(), path, ReadOptions{Stdout: true, Tail: -1, Follow: true})
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		f := readFrames(rc)
		f.expect(t, "1:a0\n", "1:a1\n", "1:a2\n")
		writeFile(t, path, lines("t", 0, 1))
		f.expect(t, "1:t0\n")
	})

	t.Run("ctx ends", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "log")
		writeFile(t, path, lines("a", 0, 1))
		ctx, cancel := context.WithCancel(context.Background())
		rc, err := Read(ctx, path, ReadOptions{Stdout: true, Tail: -1, Follow: true})
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		f := readFrames(rc)
		f.expect(t, "1:a0\n")
		cancel()
		f.expectEnd(t)
	})

	t.Run("until passes", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "log")
		now := time.Now()
		writeFile(t, path, jsonLine("stdout", "old\n", now.Add(-time.Hour)))
		rc, err := Read(context.Background(), path, ReadOptions{Stdout: true, Tail: -1, Follow: true, Until: now.Add(200 * time.Millisecond)})
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		f := readFrames(rc)
		f.expect(t, "1:old\n")
		f.expectEnd(t)
	})

	t.Run("until past: no follow", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "log")
		writeFile(t, path, lines("a", 0, 2))
		rc, err := Read(context.Background(), path, ReadOptions{Stdout: true, Tail: -1, Follow: true, Until: t0.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		f := readFrames(rc)
		f.expect(t, "1:a0\n", "1:a1\n")
		f.expectEnd(t)
	})

	t.Run("close while blocked", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "log")
		writeFile(t, path, lines("a", 0, 100))
		rc, err := Read(context.Background(), path, ReadOptions{Stdout: true, Tail: -1, Follow: true})
		if err != nil {
			t.Fatal(err)
		}
		// Nobody reads: the writer side is stuck in a write; Close must
		// still end it.
		rc.Close()
	})
}
