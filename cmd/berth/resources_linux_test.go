package main

import (
	"strings"
	"testing"

	"github.com/berth-project/berth/internal/gate"
)

// TestResourceFlags drives run, update and stats with docker's resource
// flags: bad input fails with docker's words and creates nothing, good
// input lands in the host config and the container's limits.
func TestResourceFlags(t *testing.T) {
	c := newCLI(t)
	img := busyboxImage(t)
	c.ok("pull", "-q", img)
	c.cleanupContainers()

	for _, tc := range []struct {
		want string
		args []string
	}{
		{"Minimum memory limit allowed is 6MB", []string{"--memory", "1k"}},
		{`invalid argument "lots" for "-m, --memory" flag`, []string{"-m", "lots"}},
		{"invalid ulimit type: bogus", []string{"--ulimit", "bogus=1"}},
		{"ulimit soft limit must be less than or equal to hard limit: 20 > 10", []string{"--ulimit", "nofile=20:10"}},
		{"invalid ulimit argument: nofile", []string{"--ulimit", "nofile"}},
		{"/dev/null is not a block device", []string{"--device-read-bps", "/dev/null:1mb"}},
		{"bad format: foo", []string{"--device-write-bps", "foo"}},
		{"bad format for device path: disk:1", []string{"--device-read-iops", "disk:1"}},
		{"invalid rate for device: /dev/vda:fast.", []string{"--device-read-bps", "/dev/vda:fast"}},
		{"invalid weight for device: /dev/vda:5", []string{"--blkio-weight-device", "/dev/vda:5"}},
		{"Range of blkio weight is from 10 to 1000", []string{"--blkio-weight", "5"}},
		{"Invalid value: 200, valid memory swappiness range is 0-100", []string{"--memory-swappiness", "200"}},
		{"Conflicting options: Nano CPUs and CPU Quota cannot both be set", []string{"--cpus", "1", "--cpu-quota", "50000"}},
		{"invalid value 2000, range for oom score adj is [-1000, 1000]", []string{"--oom-score-adj", "2000"}},
	} {
		c.fails(tc.want, append(append([]string{"run", "--network", "none"}, tc.args...), img, "true")...)
	}
	if out := c.ok("ps", "-aq"); out != "" {
		t.Fatalf("failed runs left containers: %s", out)
	}

	// The OOM killer ends a hog: 137 and OOMKilled.
	r := c.run(nil, "run", "--name", "hog", "--network", "none", "--memory", "32m", img, "sh", "-c", "x=a; while :; do x=$x$x; done")
	if r.code != 137 {
		t.Errorf("hog exit %d, want 137 (%s)", r.code, r.stderr)
	}
	if got := c.ok("inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}}", "hog"); got != "true 137\n" {
		t.Errorf("hog state %q", got)
	}

	id := strings.TrimSpace(c.ok("run", "-d", "--network", "none", "--memory", "64m", "--memory-reservation", "32m",
		"--cpus", "0.5", "--pids-limit", "20", "--shm-size", "128m", "--ulimit", "nofile=512:1024",
		"--cpu-shares", "512", "--memory-swappiness", "10", "--oom-score-adj", "100", img,
		"sh", "-c", "grep ' /dev/shm ' /proc/mounts; ulimit -n; exec sleep 1000"))
	got := c.ok("inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.MemoryReservation}} {{.HostConfig.MemorySwap}} {{.HostConfig.NanoCpus}} "+
		"{{.HostConfig.PidsLimit}} {{.HostConfig.ShmSize}} {{.HostConfig.CpuShares}} {{.HostConfig.MemorySwappiness}} {{.HostConfig.OomScoreAdj}} {{range .HostConfig.Ulimits}}{{.Name}}={{.Soft}}:{{.Hard}}{{end}}", id)
	if want := "67108864 33554432 134217728 500000000 20 134217728 512 10 100 nofile=512:1024\n"; got != want {
		t.Errorf("inspect: %q, want %q", got, want)
	}
	eventually(t, "the container's output", func() (bool, string) {
		out := c.ok("logs", id)
		return strings.Contains(out, "size=131072k") && strings.Contains(out, "512\n"), out
	})

	c.ok("update", "--memory", "96m", "--memory-swap", "192m", "--cpus", "1", "--pids-limit", "30", id)
	if got := c.ok("inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}", id); got != "100663296 201326592 1000000000 30\n" {
		t.Errorf("after update: %q", got)
	}
	c.fails("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time", "update", "--memory", "300m", id)
	c.fails("Minimum memory limit allowed is 6MB", "update", "--memory", "1m", id)

	out := c.ok("stats", "--no-stream", id)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "CONTAINER ID") || !strings.Contains(lines[0], "MEM USAGE / LIMIT") ||
		!strings.Contains(lines[0], "BLOCK I/O") || !strings.HasSuffix(lines[0], "PIDS") {
		t.Fatalf("stats:\n%s", out)
	}
	if f := lines[1]; !strings.HasPrefix(f, id[:12]) || !strings.Contains(f, "/ 96MiB") {
		t.Errorf("stats row %q", f)
	}
	busy := strings.TrimSpace(c.ok("run", "-d", "--network", "none", "--cpus", "0.5", img, "sh", "-c", "while :; do :; done"))
	eventually(t, "cpu in berth stats", func() (bool, string) {
		out := c.ok("stats", "--no-stream", "--format", "{{.CPUPerc}} {{.PIDs}}", busy)
		return !strings.HasPrefix(out, "0.00%") && strings.HasSuffix(out, " 1\n"), out
	})
	c.ok("rm", "-f", id, "hog", busy)
}

// TestDockerCLIResources: docker's own CLI sets, updates and reads limits
// on berth's daemon.
func TestDockerCLIResources(t *testing.T) {
	gate.Command(t, "docker")
	c := newCLI(t)
	d := startDaemon(t, c)
	img := busyboxImage(t)
	d.dockerOK("pull", "-q", img)

	r := d.docker(nil, "run", "--network", "none", "--memory", "1k", img, "true")
	if r.code == 0 || !strings.Contains(r.stderr, "Minimum memory limit allowed is 6MB") {
		t.Errorf("docker run --memory 1k: %d %s", r.code, r.stderr)
	}
	id := strings.TrimSpace(d.dockerOK("run", "-d", "--network", "none", "--memory", "64m", "--pids-limit", "20", img, "sleep", "1000"))
	out := d.dockerOK("update", "--memory", "80m", "--memory-swap", "160m", "--cpus", "0.5", id)
	if strings.TrimSpace(out) != id {
		t.Errorf("docker update printed %q", out)
	}
	if got := d.dockerOK("inspect", "--format", "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.NanoCpus}}", id); got != "83886080 167772160 500000000\n" {
		t.Errorf("inspect after docker update: %q", got)
	}
	out = d.dockerOK("stats", "--no-stream", id)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "CONTAINER ID") || !strings.Contains(lines[1], "/ 80MiB") {
		t.Errorf("docker stats --no-stream:\n%s", out)
	}
	if f := strings.Fields(lines[len(lines)-1]); len(f) == 0 || f[len(f)-1] != "1" {
		t.Errorf("docker stats PIDS column: %q", lines[len(lines)-1])
	}

	// A busy container shows CPU; a bridged one that pings its gateway
	// shows network bytes both ways.
	busy := strings.TrimSpace(d.dockerOK("run", "-d", "--cpus", "0.5", img, "sh", "-c",
		`gw=$(ip route | awk '/default/ {print $3}'); ping -c 3 -W 1 $gw; while :; do :; done`))
	eventually(t, "cpu and network in stats", func() (bool, string) {
		out := d.dockerOK("stats", "--no-stream", "--format", "{{.CPUPerc}}|{{.NetIO}}", busy)
		cpu, netIO, _ := strings.Cut(strings.TrimSpace(out), "|")
		rx, tx, _ := strings.Cut(netIO, " / ")
		return cpu != "0.00%" && cpu != "--" && rx != "0B" && tx != "0B", out
	})
	d.dockerOK("rm", "-f", id, busy)
}
