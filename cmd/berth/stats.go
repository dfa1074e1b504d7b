package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/engine"
)

const defaultStatsFormat = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"

var statsHeader = map[string]string{
	"Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %", "MemUsage": "MEM USAGE / LIMIT",
	"MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O", "PIDs": "PIDS",
}

// statsSample is one container's figures, as docker computes them from a
// StatsResponse.
type statsSample struct {
	container, id, name string
	cpu, mem, memLimit  float64
	memPerc             float64
	netRx, netTx        float64
	blkRead, blkWrite   float64
	pids                uint64
	valid               bool
	trunc               bool
}

// sampleOf computes docker's figures: CPU against the previous sample of
// the same response, memory without the page cache.
func sampleOf(ref string, s container.StatsResponse) statsSample {
	out := statsSample{container: ref, id: s.ID, name: strings.TrimPrefix(s.Name, "/"), valid: true}
	cpuDelta := float64(s.CPUStats.CPUUsage.TotalUsage) - float64(s.PreCPUStats.CPUUsage.TotalUsage)
	sysDelta := float64(s.CPUStats.SystemUsage) - float64(s.PreCPUStats.SystemUsage)
	online := float64(s.CPUStats.OnlineCPUs)
	if online == 0 {
		online = float64(len(s.CPUStats.CPUUsage.PercpuUsage))
	}
	if sysDelta > 0 && cpuDelta > 0 {
		out.cpu = cpuDelta / sysDelta * online * 100
	}
	mem := s.MemoryStats
	out.mem = float64(mem.Usage)
	if v, ok := mem.Stats["total_inactive_file"]; ok && v < mem.Usage {
		out.mem = float64(mem.Usage - v)
	} else if v := mem.Stats["inactive_file"]; v < mem.Usage {
		out.mem = float64(mem.Usage - v)
	}
	out.memLimit = float64(mem.Limit)
	if mem.Limit != 0 {
		out.memPerc = out.mem / out.memLimit * 100
	}
	for _, n := range s.Networks {
		out.netRx += float64(n.RxBytes)
		out.netTx += float64(n.TxBytes)
	}
	for _, e := range s.BlkioStats.IoServiceBytesRecursive {
		switch strings.ToLower(e.Op) {
		case "read":
			out.blkRead += float64(e.Value)
		case "write":
			out.blkWrite += float64(e.Value)
		}
	}
	out.pids = s.PidsStats.Current
	return out
}

func (s *statsSample) MarshalJSON() ([]byte, error) { return methodsJSON(s) }

func (s *statsSample) Container() string { return s.container }

func (s *statsSample) ID() string {
	if s.trunc {
		return truncateID(s.id)
	}
	return s.id
}

func (s *statsSample) Name() string {
	if s.name == "" {
		return "--"
	}
	return s.name
}

func (s *statsSample) CPUPerc() string {
	if !s.valid {
		return "--"
	}
	return fmt.Sprintf("%.2f%%", s.cpu)
}

func (s *statsSample) MemUsage() string {
	if !s.valid {
		return "-- / --"
	}
	return binarySize(s.mem) + " / " + binarySize(s.memLimit)
}

func (s *statsSample) MemPerc() string {
	if !s.valid {
		return "--"
	}
	return fmt.Sprintf("%.2f%%", s.memPerc)
}

func (s *statsSample) NetIO() string {
	if !s.valid {
		return "--"
	}
	return humanSize(int64(s.netRx)) + " / " + humanSize(int64(s.netTx))
}

func (s *statsSample) BlockIO() string {
	if !s.valid {
		return "--"
	}
	return humanSize(int64(s.blkRead)) + " / " + humanSize(int64(s.blkWrite))
}

func (s *statsSample) PIDs() string {
	if !s.valid {
		return "--"
	}
	return strconv.FormatUint(s.pids, 10)
}

// statsBoard holds the latest sample of each container watched.
type statsBoard struct {
	mu      sync.Mutex
	order   []string
	samples map[string]*statsSample
	errs    map[string]error
	first   map[string]chan struct{} // closed at the first sample or error
}

func newStatsBoard() *statsBoard {
	return &statsBoard{samples: map[string]*statsSample{}, errs: map[string]error{}, first: map[string]chan struct{}{}}
}

// watch reads the stats stream of ref until it ends or ctx does.
func (b *statsBoard) watch(ctx context.Context, api engine.API, ref string, stream, trunc bool) {
	b.mu.Lock()
	if _, ok := b.first[ref]; ok {
		b.mu.Unlock()
		return
	}
	first := make(chan struct{})
	b.first[ref] = first
	b.order = append(b.order, ref)
	b.samples[ref] = &statsSample{container: ref, id: ref, trunc: trunc}
	b.mu.Unlock()
	var once sync.Once
	done := func() { once.Do(func() { close(first) }) }
	go func() {
		defer done()
		r, err := api.ContainerStats(ctx, ref, stream)
		if err != nil {
			b.fail(ref, err)
			return
		}
		defer r.Close()
		dec := json.NewDecoder(r)
		for {
			var s container.StatsResponse
			if err := dec.Decode(&s); err != nil {
				if err != io.EOF && ctx.Err() == nil {
					b.fail(ref, err)
				}
				return
			}
			sample := sampleOf(ref, s)
			sample.trunc = trunc
			b.mu.Lock()
			b.samples[ref] = &sample
			b.mu.Unlock()
			done()
		}
	}()
}

func (b *statsBoard) fail(ref string, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.errs[ref] = err
	if s := b.samples[ref]; s != nil {
		s.valid = false
	}
}

// forget stops showing the containers not in keep.
func (b *statsBoard) forget(keep map[string]bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var order []string
	for _, ref := range b.order {
		if keep[ref] {
			order = append(order, ref)
			continue
		}
		delete(b.samples, ref)
		delete(b.first, ref)
		delete(b.errs, ref)
	}
	b.order = order
}

// rows are the current samples in the order containers were added.
func (b *statsBoard) rows() []any {
	b.mu.Lock()
	defer b.mu.Unlock()
	rows := make([]any, 0, len(b.order))
	for _, ref := range b.order {
		s := *b.samples[ref]
		rows = append(rows, &s)
	}
	return rows
}

func newStatsCommand(c *client) *cobra.Command {
	var all, noStream, noTrunc bool
	var format string
	cmd := &cobra.Command{
		Use:   "stats [OPTIONS] [CONTAINER...]",
		Short: "Display a live stream of container(s) resource usage statistics",
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			lf, err := newListFormat(format, defaultStatsFormat)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			b := newStatsBoard()
			// Without names: the running containers (all with -a), looked up
			// again at each refresh.
			refresh := func() error {
				if len(args) > 0 {
					for _, a := range args {
						b.watch(ctx, api, a, !noStream, !noTrunc)
					}
					return nil
				}
				list, err := api.ContainerList(ctx, engine.ListOptions{All: all})
				if err != nil {
					return err
				}
				sort.SliceStable(list, func(i, j int) bool { return list[i].Created < list[j].Created })
				keep := map[string]bool{}
				for _, s := range list {
					keep[s.ID] = true
					b.watch(ctx, api, s.ID, !noStream, !noTrunc)
				}
				b.forget(keep)
				return nil
			}
			if err := refresh(); err != nil {
				return err
			}
			if noStream {
				b.mu.Lock()
				var firsts []chan struct{}
				for _, ch := range b.first {
					firsts = append(firsts, ch)
				}
				b.mu.Unlock()
				for _, ch := range firsts {
					<-ch
				}
				if len(args) > 0 {
					// A container named but not found is an error, as docker's.
					b.mu.Lock()
					var msgs []string
					for _, a := range args {
						if err := b.errs[a]; err != nil {
							msgs = append(msgs, err.Error())
						}
					}
					b.mu.Unlock()
					if len(msgs) > 0 {
						return &statusError{code: 1, msg: strings.Join(msgs, "\n")}
					}
				}
				return lf.write(out, statsHeader, b.rows())
			}
			terminal := isTerminal(out)
			tick := time.NewTicker(500 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return nil
				case <-tick.C:
				}
				if err := refresh(); err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return err
				}
				if terminal {
					io.WriteString(out, "\x1b[2J\x1b[H")
				}
				if err := lf.write(out, statsHeader, b.rows()); err != nil {
					return err
				}
			}
		}),
	}
	f := cmd.Flags()
	f.BoolVarP(&all, "all", "a", false, "Show all containers (default shows just running)")
	f.BoolVar(&noStream, "no-stream", false, "Disable streaming stats and only pull the first result")
	f.BoolVar(&noTrunc, "no-trunc", false, "Do not truncate output")
	f.StringVar(&format, "format", "", "Format output using a custom template ('table', 'table TEMPLATE', 'json' or a Go template)")
	return cmd
}
