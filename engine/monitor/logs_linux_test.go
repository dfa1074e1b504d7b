package monitor_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/engine/logfile"
	"github.com/berth-project/berth/engine/monitor"
)

func logWriterConfig(path string) logfile.WriterConfig {
	return logfile.WriterConfig{Path: path}
}

// logEntry is one line of a json-file log.
type logEntry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

// readLog decodes a json-file log, failing on a malformed line.
func readLog(t *testing.T, path string) []logEntry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []logEntry
	s := bufio.NewScanner(f)
	s.Buffer(nil, 1<<20)
	for s.Scan() {
		var e logEntry
		if err := json.Unmarshal(s.Bytes(), &e); err != nil {
			t.Fatalf("%s: bad line %q: %v", path, s.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

// byStream joins the logged output of each stream, and lists the entries.
func byStream(es []logEntry) (map[string]string, map[string][]string) {
	joined, entries := map[string]string{}, map[string][]string{}
	for _, e := range es {
		joined[e.Stream] += e.Log
		entries[e.Stream] = append(entries[e.Stream], e.Log)
	}
	return joined, entries
}

func TestLogFormat(t *testing.T) {
	long := strings.Repeat("x", 20000)
	e := newEnv(t, "sh", "-c", fmt.Sprintf(`echo one; echo two >&2; echo %s; printf 'a "quoted" <tag>\n'; printf tail`, long))
	before := time.Now()
	e.start()
	if x := e.wait(); x.Code != 0 {
		t.Fatalf("exit %+v", x)
	}
	es := readLog(t, e.cfg.Log.Path)
	joined, entries := byStream(es)
	if want := "one\n" + long + "\n" + `a "quoted" <tag>` + "\ntail"; joined["stdout"] != want {
		t.Errorf("stdout logged as %q...", joined["stdout"][:min(len(joined["stdout"]), 80)])
	}
	if joined["stderr"] != "two\n" {
		t.Errorf("stderr logged as %q", joined["stderr"])
	}
	// Lines are entries; the 20000-byte line is cut at 16 KiB (a partial
	// entry without newline, then the rest); the last one has no newline.
	want := []string{"one\n", strings.Repeat("x", 16384), strings.Repeat("x", 20000-16384) + "\n", `a "quoted" <tag>` + "\n", "tail"}
	if got := entries["stdout"]; len(got) != len(want) {
		t.Errorf("%d stdout entries, want %d", len(got), len(want))
	} else {
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("entry %d: %q, want %q", i, got[i][:min(len(got[i]), 40)], want[i][:min(len(want[i]), 40)])
			}
		}
	}
	for _, en := range es {
		if en.Time.Before(before.Add(-time.Second)) || en.Time.Location() != time.UTC {
			t.Errorf("entry time %v", en.Time)
		}
	}
	// Byte for byte as docker writes it: escaped <, >, and the time in UTC.
	raw, _ := os.ReadFile(e.cfg.Log.Path)
	if !strings.Contains(string(raw), `{"log":"a \"quoted\" \u003ctag\u003e\n","stream":"stdout","time":"`) {
		t.Errorf("log not in docker's encoding:\n%s", raw[len(raw)-200:])
	}
}

func TestLogRotation(t *testing.T) {
	e := newEnv(t, "seq", "1", "3000")
	e.cfg.Log.MaxSize, e.cfg.Log.MaxFiles = 4096, 3
	e.start()
	if x := e.wait(); x.Code != 0 {
		t.Fatalf("exit %+v", x)
	}
	files, _ := filepath.Glob(e.cfg.Log.Path + "*")
	if len(files) != 3 {
		t.Fatalf("log files %v, want 3", files)
	}
	// Oldest to newest: PATH.2, PATH.1, PATH; one run of numbers ending
	// with 3000 in PATH.
	var nums []string
	for _, suffix := range []string{".2", ".1", ""} {
		p := e.cfg.Log.Path + suffix
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > 4096 {
			t.Errorf("%s: %d bytes, more than max-size", p, fi.Size())
		}
		for _, en := range readLog(t, p) {
			nums = append(nums, strings.TrimSuffix(en.Log, "\n"))
		}
	}
	if nums[len(nums)-1] != "3000" {
		t.Fatalf("newest entry %q, want 3000", nums[len(nums)-1])
	}
	for i := 1; i < len(nums); i++ {
		var a, b int
		fmt.Sscan(nums[i-1], &a)
		fmt.Sscan(nums[i], &b)
		if b != a+1 {
			t.Fatalf("entries %q then %q: a gap or a reorder", nums[i-1], nums[i])
		}
	}
}

// TestLogNoSpace puts the log on a full tmpfs: the container runs to
// completion all the same, its attached client gets everything, and its
// exit is recorded.
func TestLogNoSpace(t *testing.T) {
	e := newEnv(t, "sh", "-c", "read x; seq 1 20000; exit 7")
	logDir := t.TempDir()
	if err := unix.Mount("tmpfs", logDir, "tmpfs", 0, "size=16k"); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	defer unix.Unmount(logDir, unix.MNT_DETACH)
	e.cfg.Log.Path = filepath.Join(logDir, "log.json")
	e.cfg.Stdin = true
	conn, _ := e.startAttached(attachAll)
	defer conn.Close()
	fill, err := os.Create(filepath.Join(logDir, "fill"))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(fill, io.LimitReader(zeros{}, 1<<20)) // until ENOSPC
	fill.Close()
	conn.Write([]byte("go\n"))
	stdout, _ := demux(t, conn)
	if stdout != seqOutput(20000) {
		t.Errorf("attached client got %d bytes, want %d", len(stdout), len(seqOutput(20000)))
	}
	if x := e.wait(); x.Code != 7 {
		t.Fatalf("exit %+v, want 7", x)
	}
	if rec, ok := readExit(e.cfg.Dir); !ok || rec != 7 {
		t.Fatalf("exit.json: %v %v", rec, ok)
	}
	// What reached the log is whole entries.
	readLog(t, e.cfg.Log.Path)
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// readLineFrom reads one line of r.
func readLineFrom(r io.Reader) (string, error) {
	var line []byte
	var b [1]byte
	for {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return string(line), err
		}
		if b[0] == '\n' {
			return string(line), nil
		}
		line = append(line, b[0])
	}
}

var attachAll = monitor.AttachOptions{Stdin: true, Stdout: true, Stderr: true}

// readExit is the recorded exit code.
func readExit(dir string) (int, bool) {
	x, ok, err := monitor.ReadExit(dir)
	return x.Code, ok && err == nil
}
