package engine

import (
	"encoding/json"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
)

func TestTopFormat(t *testing.T) {
	self, err := readProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if self.pid != os.Getpid() || self.ppid != os.Getppid() || len(self.args) == 0 || self.uid != os.Geteuid() {
		t.Fatalf("readProc(self) = %+v", self)
	}
	h := newProcHost()
	for _, tc := range []struct {
		args   string
		titles []string
		bad    bool
	}{
		{"", []string{"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"}, false},
		{"-ef", []string{"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"}, false},
		{"aux", []string{"USER", "PID", "%CPU", "%MEM", "VSZ", "RSS", "TTY", "STAT", "START", "TIME", "COMMAND"}, false},
		{"-o pid,comm", nil, true},
	} {
		t.Run(tc.args, func(t *testing.T) {
			f, err := topFormat(tc.args)
			if tc.bad {
				wantKind(t, err, KindInvalid, "")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(f.titles, tc.titles) {
				t.Errorf("titles %q", f.titles)
			}
			row := f.row(h, self)
			if len(row) != len(f.titles) || row[1] != strconv.Itoa(os.Getpid()) || row[len(row)-1] != self.command() {
				t.Errorf("row %q", row)
			}
		})
	}
}

func TestTopColumns(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{ttyName(0), "?"},
		{ttyName(136<<8 | 3), "pts/3"},
		{ttyName(4<<8 | 1), "tty1"},
		{ttyName(4<<8 | 65), "ttyS1"},
		{cpuTime(procInfo{utime: 100 * 3725}, false), "01:02:05"},
		{cpuTime(procInfo{utime: 100 * (86400 + 5)}, false), "1-00:00:05"},
		{cpuTime(procInfo{utime: 100 * 125}, true), "2:05"},
		{procInfo{comm: "kworker"}.command(), "[kworker]"},
		{procInfo{args: []string{"sh", "-c", "a\nb\tc"}}.command(), "sh -c a?b?c"},
		{procInfo{pid: 7, session: 7, threads: 3, state: 'S', pgrp: 7, tpgid: 7}.bsdState(), "Ssl+"},
		{procInfo{pid: 8, session: 7, state: 'R', nice: 5}.bsdState(), "RN"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	now := time.Date(2025, 6, 10, 15, 0, 0, 0, time.Local)
	h := &procHost{now: now, boot: now.Add(-48 * time.Hour)}
	for _, tc := range []struct {
		start time.Time
		want  string
	}{
		{now.Add(-time.Hour), "14:00"},
		{now.Add(-47 * time.Hour), "Jun08"},
	} {
		p := procInfo{start: uint64(tc.start.Sub(h.boot) / (time.Second / clockTicks))}
		if got := h.startTime(p); got != tc.want {
			t.Errorf("startTime(%v) = %q, want %q", tc.start, got, tc.want)
		}
	}
}

func TestParseNetDev(t *testing.T) {
	text := `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0
  eth0:    2000      20    1    2    0     0          0         0     3000      30    3    4    0     0       0          0
`
	got, err := parseNetDev(text)
	if err != nil {
		t.Fatal(err)
	}
	e := got["eth0"]
	if len(got) != 1 || e.RxBytes != 2000 || e.RxPackets != 20 || e.RxErrors != 1 || e.RxDropped != 2 ||
		e.TxBytes != 3000 || e.TxPackets != 30 || e.TxErrors != 3 || e.TxDropped != 4 {
		t.Errorf("parseNetDev: %+v", got)
	}
	if total, cpus := systemCPU(); total == 0 || cpus == 0 {
		t.Errorf("systemCPU = %d, %d", total, cpus)
	}
}

func TestContainerTopStats(t *testing.T) {
	e := newTestEngine(t, false)
	id := startSleeper(t, e, container.Config{})
	// Start returns once the init's execve has passed its point of no
	// return (the init pipe closes on exec), which can be a moment before
	// the kernel has set up the new program's command line: ps then shows
	// "berth init" or "[sleep]". Wait for the exec to complete.
	pid := inspect(t, e, id).State.Pid
	waitFor(t, "sleep's command line", func() bool {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		return err == nil && strings.HasPrefix(string(b), "sleep\x00")
	})

	t.Run("top", func(t *testing.T) {
		for _, args := range []string{"", "-ef", "aux"} {
			top, err := e.ContainerTop(ctx(t), id, args)
			if err != nil {
				t.Fatal(err)
			}
			cmd := len(top.Titles) - 1
			if len(top.Processes) != 1 || top.Processes[0][cmd] != "sleep 1000" || top.Processes[0][1] != strconv.Itoa(inspect(t, e, id).State.Pid) {
				t.Errorf("top %q: %q %q", args, top.Titles, top.Processes)
			}
		}
		_, err := e.ContainerTop(ctx(t), id, "-o pid")
		wantKind(t, err, KindInvalid, "")
		stopped := create(t, e, "", container.Config{}, container.HostConfig{}, "true")
		_, err = e.ContainerTop(ctx(t), stopped, "")
		wantKind(t, err, KindConflict, "container "+stopped+" is not running")
	})

	t.Run("stats", func(t *testing.T) {
		r, err := e.ContainerStats(ctx(t), id, false)
		if err != nil {
			t.Fatal(err)
		}
		var s container.StatsResponse
		if err := json.NewDecoder(r).Decode(&s); err != nil {
			t.Fatal(err)
		}
		r.Close()
		if s.ID != id || !strings.HasPrefix(s.Name, "/") || s.Read.IsZero() || s.PreRead.IsZero() || !s.PreRead.Before(s.Read) {
			t.Errorf("stats header: %+v", s)
		}
		if s.MemoryStats.Usage == 0 || s.MemoryStats.Limit == 0 || s.PidsStats.Current != 1 ||
			s.CPUStats.SystemUsage == 0 || s.CPUStats.OnlineCPUs == 0 || s.PreCPUStats.SystemUsage == 0 ||
			s.CPUStats.SystemUsage < s.PreCPUStats.SystemUsage {
			t.Errorf("implausible stats: %+v", s)
		}

		r, err = e.ContainerStats(ctx(t), id, true)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(r)
		var first, second container.StatsResponse
		if err := dec.Decode(&first); err != nil {
			t.Fatal(err)
		}
		if err := dec.Decode(&second); err != nil {
			t.Fatal(err)
		}
		r.Close()
		if !first.PreRead.IsZero() || !second.PreRead.Equal(first.Read) || second.MemoryStats.Usage == 0 {
			t.Errorf("stream: %+v then %+v", first, second)
		}

		stopped := create(t, e, "", container.Config{}, container.HostConfig{}, "true")
		r, err = e.ContainerStats(ctx(t), stopped, false)
		if err != nil {
			t.Fatal(err)
		}
		var z container.StatsResponse
		json.NewDecoder(r).Decode(&z)
		r.Close()
		if z.ID != stopped || !z.Read.IsZero() || z.MemoryStats.Usage != 0 {
			t.Errorf("stats of a stopped container: %+v", z)
		}
		_, err = e.ContainerStats(ctx(t), "nope", false)
		wantKind(t, err, KindNotFound, "No such container: nope")
	})
}
