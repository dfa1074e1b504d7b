package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/berth-project/berth/runtime"
	"github.com/berth-project/berth/runtime/cgroup"
)

// statsInterval is the time between two samples of a stats stream, and
// oneShotGap the time between the two samples that make one answer of a
// non-streaming call (the first fills precpu_stats, so a client can work
// out a CPU percentage).
const (
	statsInterval = time.Second
	oneShotGap    = 250 * time.Millisecond
)

// ContainerStats streams container.StatsResponse values, one JSON line a
// second while stream is set, else one line. A container that is not
// running gives zeroed samples (its name and ID only), as with dockerd.
func (e *Engine) ContainerStats(ctx context.Context, ref string, stream bool) (io.ReadCloser, error) {
	v, err := e.view(ctx, ref)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	go func() {
		defer cancel()
		pw.CloseWithError(e.statsLoop(ctx, v, stream, json.NewEncoder(pw)))
	}()
	return &streamReader{PipeReader: pr, cancel: cancel}, nil
}

func (e *Engine) statsLoop(ctx context.Context, v ctrView, stream bool, enc *json.Encoder) error {
	var prev *container.StatsResponse
	if !stream {
		first, err := e.statsSample(ctx, v.ID, nil)
		if err != nil {
			return err
		}
		if !first.Read.IsZero() {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(oneShotGap):
			}
			prev = &first
		}
	}
	t := time.NewTicker(statsInterval)
	defer t.Stop()
	for {
		s, err := e.statsSample(ctx, v.ID, prev)
		if err != nil {
			if KindOf(err) == KindNotFound {
				return nil // removed: the stream ends
			}
			return err
		}
		if err := enc.Encode(&s); err != nil {
			return nil // the reader went away
		}
		if !stream {
			return nil
		}
		prev = &s
		if s.Read.IsZero() {
			prev = nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// statsSample takes one sample of the container (by ID), with prev as its
// "pre" values.
func (e *Engine) statsSample(ctx context.Context, id string, prev *container.StatsResponse) (container.StatsResponse, error) {
	v, err := e.view(ctx, id)
	if err != nil {
		return container.StatsResponse{}, err
	}
	zero := container.StatsResponse{ID: v.ID, Name: "/" + v.Name}
	switch v.Status {
	case container.StateRunning, container.StatePaused:
	default:
		return zero, nil
	}
	rc, err := e.Runtime.Load(v.ID)
	if err != nil {
		return zero, nil
	}
	cs, err := rc.Stats()
	if err != nil {
		// Stopped between the view and the read.
		if st := rc.Status(); st != runtime.Running && st != runtime.Paused {
			return zero, nil
		}
		return zero, fmt.Errorf("stats of container %s: %w", v.ID, err)
	}
	s := statsFrom(cs, readHost().memTotal)
	s.ID, s.Name, s.OSType = v.ID, "/"+v.Name, "linux"
	s.Read = time.Now().UTC()
	s.CPUStats.SystemUsage, s.CPUStats.OnlineCPUs = systemCPU()
	if v.Pid > 0 {
		s.Networks = netDev(v.Pid)
	}
	if prev != nil {
		s.PreRead, s.PreCPUStats = prev.Read, prev.CPUStats
	}
	return s, nil
}

// statsFrom converts the runtime's cgroup counters to docker's shape. A
// memory limit above the host's memory (none set) reads as the host's
// memory, as with dockerd.
func statsFrom(cs *cgroup.Stats, memTotal int64) container.StatsResponse {
	var s container.StatsResponse
	u := cs.CPU.Usage
	s.CPUStats.CPUUsage = container.CPUUsage{
		TotalUsage:        u.Total,
		PercpuUsage:       u.Percpu,
		UsageInKernelmode: u.Kernel,
		UsageInUsermode:   u.User,
	}
	s.CPUStats.ThrottlingData = container.ThrottlingData{
		Periods:          cs.CPU.Throttling.Periods,
		ThrottledPeriods: cs.CPU.Throttling.ThrottledPeriods,
		ThrottledTime:    cs.CPU.Throttling.ThrottledTime,
	}
	m := cs.Memory
	s.MemoryStats = container.MemoryStats{
		Usage:    m.Usage.Usage,
		MaxUsage: m.Usage.Max,
		Failcnt:  m.Usage.Failcnt,
		Limit:    m.Usage.Limit,
		Stats:    m.Raw,
	}
	if memTotal > 0 && (s.MemoryStats.Limit == 0 || s.MemoryStats.Limit > uint64(memTotal)) {
		s.MemoryStats.Limit = uint64(memTotal)
	}
	s.PidsStats = container.PidsStats{Current: cs.Pids.Current, Limit: cs.Pids.Limit}
	conv := func(in []cgroup.BlkioEntry) []container.BlkioStatEntry {
		if in == nil {
			return nil
		}
		out := make([]container.BlkioStatEntry, len(in))
		for i, e := range in {
			out[i] = container.BlkioStatEntry{Major: e.Major, Minor: e.Minor, Op: e.Op, Value: e.Value}
		}
		return out
	}
	b := cs.Blkio
	s.BlkioStats = container.BlkioStats{
		IoServiceBytesRecursive: conv(b.IoServiceBytesRecursive),
		IoServicedRecursive:     conv(b.IoServicedRecursive),
		IoQueuedRecursive:       conv(b.IoQueuedRecursive),
		IoServiceTimeRecursive:  conv(b.IoServiceTimeRecursive),
		IoWaitTimeRecursive:     conv(b.IoWaitTimeRecursive),
		IoMergedRecursive:       conv(b.IoMergedRecursive),
		IoTimeRecursive:         conv(b.IoTimeRecursive),
		SectorsRecursive:        conv(b.SectorsRecursive),
	}
	return s
}

// systemCPU reads the host's CPU time (all CPUs, all states, in
// nanoseconds) and the number of CPUs from /proc/stat, as dockerd does.
func systemCPU() (uint64, uint32) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	var total uint64
	var cpus uint32
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch {
		case f[0] == "cpu":
			for _, x := range f[1:] {
				n, _ := strconv.ParseUint(x, 10, 64)
				total += n
			}
		case strings.HasPrefix(f[0], "cpu"):
			cpus++
		}
	}
	return total * (uint64(time.Second) / clockTicks), cpus
}

// netDev reads the counters of the network interfaces of pid's network
// namespace, loopback left out.
func netDev(pid int) map[string]container.NetworkStats {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/net/dev")
	if err != nil {
		return nil
	}
	out, err := parseNetDev(string(b))
	if err != nil || len(out) == 0 {
		return nil
	}
	return out
}

// parseNetDev parses the text of /proc/net/dev.
func parseNetDev(text string) (map[string]container.NetworkStats, error) {
	out := map[string]container.NetworkStats{}
	for _, line := range strings.Split(text, "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		name = strings.TrimSpace(name)
		f := strings.Fields(rest)
		if name == "lo" || strings.Contains(name, "|") {
			continue
		}
		if len(f) < 12 {
			return nil, errors.New("short line in net/dev: " + line)
		}
		n := func(i int) uint64 { v, _ := strconv.ParseUint(f[i], 10, 64); return v }
		out[name] = container.NetworkStats{
			RxBytes: n(0), RxPackets: n(1), RxErrors: n(2), RxDropped: n(3),
			TxBytes: n(8), TxPackets: n(9), TxErrors: n(10), TxDropped: n(11),
		}
	}
	return out, nil
}
