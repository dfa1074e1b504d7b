package engine

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"golang.org/x/sys/unix"
)

// clockTicks is USER_HZ, the unit of the times in /proc/PID/stat: 100 on
// every Linux architecture berth runs on.
const clockTicks = 100

// ContainerTop lists the container's processes as `ps` prints them. dockerd
// runs the host's ps and keeps the container's lines; berth reads /proc
// itself (no ps binary is guaranteed), for the formats docker users ask
// for: "-ef" (the default: UID PID PPID C STIME TTY TIME CMD) and "aux"
// (USER PID %CPU %MEM VSZ RSS TTY STAT START TIME COMMAND).
func (e *Engine) ContainerTop(ctx context.Context, ref, psArgs string) (container.TopResponse, error) {
	v, err := e.view(ctx, ref)
	if err != nil {
		return container.TopResponse{}, err
	}
	format, err := topFormat(psArgs)
	if err != nil {
		return container.TopResponse{}, err
	}
	switch v.Status {
	case container.StateRunning, container.StatePaused:
	case container.StateRestarting:
		return container.TopResponse{}, Conflict("Container %s is restarting, wait until the container is running", v.ID)
	default:
		return container.TopResponse{}, Conflict("container %s is not running", v.ID)
	}
	rc, err := e.Runtime.Load(v.ID)
	if err != nil {
		return container.TopResponse{}, fmt.Errorf("top of container %s: %w", v.ID, err)
	}
	pids, err := rc.Pids()
	if err != nil {
		return container.TopResponse{}, fmt.Errorf("top of container %s: %w", v.ID, err)
	}
	if len(pids) == 0 && v.Pid > 0 {
		pids = []int{v.Pid}
	}
	slices.Sort(pids)
	host := newProcHost()
	out := container.TopResponse{Titles: format.titles, Processes: [][]string{}}
	for _, pid := range pids {
		p, err := readProc(pid)
		if err != nil {
			continue // gone since the cgroup was read
		}
		out.Processes = append(out.Processes, format.row(host, p))
	}
	e.emit(events.ContainerEventType, events.ActionTop, v.ID, map[string]string{"name": v.Name, "image": v.Image})
	return out, nil
}

type topFormatter struct {
	titles []string
	row    func(h *procHost, p procInfo) []string
}

// topFormat picks the columns for ps arguments.
func topFormat(args string) (topFormatter, error) {
	switch strings.Join(strings.Fields(args), " ") {
	case "", "-ef", "-e -f", "-f -e", "-fe", "ef", "-A -f", "-Af":
		return topFormatter{
			titles: []string{"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"},
			row: func(h *procHost, p procInfo) []string {
				return []string{h.userName(p.uid), strconv.Itoa(p.pid), strconv.Itoa(p.ppid),
					strconv.Itoa(int(h.cpuPercent(p))), h.startTime(p), ttyName(p.tty), cpuTime(p, false), p.command()}
			},
		}, nil
	case "aux", "-aux", "axu", "uax", "-e -u", "-eu":
		return topFormatter{
			titles: []string{"USER", "PID", "%CPU", "%MEM", "VSZ", "RSS", "TTY", "STAT", "START", "TIME", "COMMAND"},
			row: func(h *procHost, p procInfo) []string {
				mem := 0.0
				if h.memTotal > 0 {
					mem = float64(p.rss) * 100 / float64(h.memTotal)
				}
				return []string{h.userName(p.uid), strconv.Itoa(p.pid), fmt.Sprintf("%.1f", h.cpuPercent(p)),
					fmt.Sprintf("%.1f", mem), strconv.FormatUint(p.vsize/1024, 10), strconv.FormatUint(p.rss/1024, 10),
					ttyName(p.tty), p.bsdState(), h.startTime(p), cpuTime(p, true), p.command()}
			},
		}, nil
	}
	return topFormatter{}, Invalid("unsupported ps arguments %q: berth's top knows \"-ef\" and \"aux\"", args)
}

// procInfo is what top shows of one process.
type procInfo struct {
	pid, ppid, pgrp, session, tpgid int
	tty                             int
	state                           byte
	utime, stime                    uint64 // clock ticks
	nice, threads                   int
	start                           uint64 // clock ticks after boot
	vsize, rss                      uint64 // bytes
	uid                             int
	comm                            string
	args                            []string
	locked                          bool
}

// readProc reads /proc/PID/stat, status and cmdline.
func readProc(pid int) (procInfo, error) {
	dir := "/proc/" + strconv.Itoa(pid)
	b, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return procInfo{}, err
	}
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open || end+2 > len(b) {
		return procInfo{}, fmt.Errorf("parse %s/stat", dir)
	}
	f := strings.Fields(string(b[end+2:]))
	if len(f) < 22 {
		return procInfo{}, fmt.Errorf("parse %s/stat: %d fields", dir, len(f))
	}
	num := func(i int) uint64 { n, _ := strconv.ParseUint(f[i], 10, 64); return n }
	snum := func(i int) int { n, _ := strconv.Atoi(f[i]); return n }
	p := procInfo{
		pid: pid, comm: string(b[open+1 : end]), state: f[0][0],
		ppid: snum(1), pgrp: snum(2), session: snum(3), tty: snum(4), tpgid: snum(5),
		utime: num(11), stime: num(12), nice: snum(16), threads: snum(17),
		start: num(19), vsize: num(20), rss: num(21) * uint64(os.Getpagesize()),
	}
	if st, err := os.ReadFile(dir + "/status"); err == nil {
		for _, line := range strings.Split(string(st), "\n") {
			k, val, _ := strings.Cut(line, ":")
			switch k {
			case "Uid":
				if fs := strings.Fields(val); len(fs) > 1 {
					p.uid, _ = strconv.Atoi(fs[1]) // effective, as ps's UID column
				}
			case "VmLck":
				p.locked = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(val), "kB")) != "0"
			}
		}
	}
	if cl, err := os.ReadFile(dir + "/cmdline"); err == nil && len(cl) > 0 {
		p.args = strings.Split(strings.TrimRight(string(cl), "\x00"), "\x00")
	}
	return p, nil
}

// command is the process's command line, or [comm] for a kernel thread or
// a zombie, as ps shows them; control characters (a script's newlines
// in `sh -c`) print as '?', as ps prints them, so a row stays one line.
func (p procInfo) command() string {
	if len(p.args) == 0 {
		return "[" + p.comm + "]"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, strings.Join(p.args, " "))
}

// bsdState is ps's STAT: the state letter and its flags.
func (p procInfo) bsdState() string {
	s := string(p.state)
	switch {
	case p.nice < 0:
		s += "<"
	case p.nice > 0:
		s += "N"
	}
	if p.locked {
		s += "L"
	}
	if p.session == p.pid {
		s += "s"
	}
	if p.threads > 1 {
		s += "l"
	}
	if p.tpgid == p.pgrp && p.tpgid > 0 {
		s += "+"
	}
	return s
}

// procHost is what the columns need of the host: boot time, uptime,
// memory, user names.
type procHost struct {
	boot     time.Time
	uptime   float64 // seconds
	memTotal uint64
	now      time.Time
	names    map[int]string
}

func newProcHost() *procHost {
	h := &procHost{now: time.Now(), names: map[int]string{}}
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) == nil {
		h.memTotal = uint64(si.Totalram) * uint64(si.Unit)
	}
	if b, err := os.ReadFile("/proc/uptime"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			h.uptime, _ = strconv.ParseFloat(f[0], 64)
		}
	}
	h.boot = h.now.Add(-time.Duration(h.uptime * float64(time.Second)))
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "btime "); ok {
				if s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
					h.boot = time.Unix(s, 0)
				}
			}
		}
	}
	return h
}

// userName is the host's name for uid, as ps prints it (the number when
// there is none, or when the name is longer than ps's column).
func (h *procHost) userName(uid int) string {
	if n, ok := h.names[uid]; ok {
		return n
	}
	n := strconv.Itoa(uid)
	if u, err := user.LookupId(n); err == nil && len(u.Username) <= 8 {
		n = u.Username
	}
	h.names[uid] = n
	return n
}

// cpuPercent is ps's C and %CPU: CPU time over the time since the process
// started.
func (h *procHost) cpuPercent(p procInfo) float64 {
	elapsed := h.uptime - float64(p.start)/clockTicks
	if elapsed <= 0 {
		return 0
	}
	return float64(p.utime+p.stime) / clockTicks * 100 / elapsed
}

// startTime is ps's STIME/START: the time of day for a process started
// today, month and day for one started this year, else the year.
func (h *procHost) startTime(p procInfo) string {
	t := h.boot.Add(time.Duration(p.start) * time.Second / clockTicks).Local()
	now := h.now.Local()
	switch {
	case t.YearDay() == now.YearDay() && t.Year() == now.Year():
		return t.Format("15:04")
	case t.Year() == now.Year():
		return t.Format("Jan02")
	}
	return t.Format("2006")
}

// cpuTime is ps's TIME: [DD-]HH:MM:SS for -ef, M:SS for aux.
func cpuTime(p procInfo, bsd bool) string {
	s := (p.utime + p.stime) / clockTicks
	if bsd {
		return fmt.Sprintf("%d:%02d", s/60, s%60)
	}
	days := s / 86400
	out := fmt.Sprintf("%02d:%02d:%02d", s/3600%24, s/60%60, s%60)
	if days > 0 {
		out = fmt.Sprintf("%d-%s", days, out)
	}
	return out
}

// ttyName names a terminal by the device number in /proc/PID/stat.
func ttyName(nr int) string {
	if nr == 0 {
		return "?"
	}
	major, minor := (nr>>8)&0xfff, (nr&0xff)|((nr>>12)&0xfff00)
	switch {
	case major >= 136 && major <= 143:
		return "pts/" + strconv.Itoa((major-136)*256+minor)
	case major == 4 && minor < 64:
		return "tty" + strconv.Itoa(minor)
	case major == 4:
		return "ttyS" + strconv.Itoa(minor-64)
	case major == 5 && minor == 1:
		return "console"
	}
	return "?"
}
