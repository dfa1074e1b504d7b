package cgroup

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// hybridMountinfo is a hybrid host with cpu and cpuacct co-mounted, a
// hierarchy mounted twice, and an unrelated mount with "cgroup" in a path.
const hybridMountinfo = `22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:9 - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset,clone_children
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
50 22 0:32 / /mnt/again\040memory rw,relatime - cgroup cgroup rw,memory
51 22 8:1 /srv /mnt/cgroup\040data rw - ext4 /dev/sda1 rw
`

const hybridProcCgroup = `9:name=systemd:/user.slice/session-1.scope
4:memory:/process_api/abc
3:cpuset:/
2:cpu,cpuacct:/user.slice
0::/user.slice/session-1.scope
`

func TestParseMountinfo(t *testing.T) {
	tests := []struct {
		name      string
		mountinfo string
		mode      string
		v1        []mountEntry
		v2        *mountEntry
	}{
		{
			name:      "hybrid",
			mountinfo: hybridMountinfo,
			mode:      ModeHybrid,
			v1: []mountEntry{
				{mountpoint: "/sys/fs/cgroup/cpu,cpuacct", root: "/", subsystems: []string{"cpu", "cpuacct"}},
				{mountpoint: "/sys/fs/cgroup/cpuset", root: "/", subsystems: []string{"cpuset"}},
				{mountpoint: "/sys/fs/cgroup/memory", root: "/", subsystems: []string{"memory"}},
				{mountpoint: "/sys/fs/cgroup/systemd", root: "/", subsystems: []string{"name=systemd"}},
			},
			v2: &mountEntry{mountpoint: "/sys/fs/cgroup/unified", root: "/"},
		},
		{
			name:      "v2",
			mountinfo: "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n",
			mode:      ModeV2,
			v2:        &mountEntry{mountpoint: "/sys/fs/cgroup", root: "/"},
		},
		{
			name: "v2 with a named v1 hierarchy",
			mountinfo: "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n" +
				"31 30 0:40 / /run/systemd-v1 rw - cgroup cgroup rw,name=systemd\n",
			mode: ModeV2,
			v1:   []mountEntry{{mountpoint: "/run/systemd-v1", root: "/", subsystems: []string{"name=systemd"}}},
			v2:   &mountEntry{mountpoint: "/sys/fs/cgroup", root: "/"},
		},
		{
			name:      "v1 inside a container",
			mountinfo: "700 690 0:32 /docker/abc /sys/fs/cgroup/memory ro,nosuid master:15 - cgroup cgroup rw,memory\n",
			mode:      ModeV1,
			v1:        []mountEntry{{mountpoint: "/sys/fs/cgroup/memory", root: "/docker/abc", subsystems: []string{"memory"}}},
		},
		{
			name:      "none",
			mountinfo: "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n",
			mode:      "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := parseMountinfo(strings.NewReader(tt.mountinfo))
			if err != nil {
				t.Fatal(err)
			}
			if got := l.mode(); got != tt.mode {
				t.Errorf("mode = %q, want %q", got, tt.mode)
			}
			if !slices.EqualFunc(l.v1, tt.v1, equalMount) {
				t.Errorf("v1 = %+v, want %+v", l.v1, tt.v1)
			}
			if (l.v2 == nil) != (tt.v2 == nil) || (l.v2 != nil && !equalMount(*l.v2, *tt.v2)) {
				t.Errorf("v2 = %+v, want %+v", l.v2, tt.v2)
			}
		})
	}
}

func equalMount(a, b mountEntry) bool {
	return a.mountpoint == b.mountpoint && a.root == b.root && slices.Equal(a.subsystems, b.subsystems)
}

func TestParseProcCgroup(t *testing.T) {
	own, err := parseProcCgroup(strings.NewReader(hybridProcCgroup))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"name=systemd": "/user.slice/session-1.scope",
		"memory":       "/process_api/abc",
		"cpuset":       "/",
		"cpu":          "/user.slice",
		"cpuacct":      "/user.slice",
		"":             "/user.slice/session-1.scope",
	}
	if !maps.Equal(own, want) {
		t.Errorf("got %v, want %v", own, want)
	}
}

func TestCheckPath(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"/berth/abc", "/berth/abc", true},
		{"berth/abc", "berth/abc", true},
		{"/berth//abc/", "/berth/abc", true},
		{"./abc", "abc", true},
		{"", "", false},
		{"/", "", false},
		{".", "", false},
		{"../escape", "", false},
		{"/a/../../etc", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := checkPath(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("checkPath(%q) = %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
}

// TestResolve checks absolute and relative cgroup paths against fake
// mountinfo and /proc/self/cgroup contents.
func TestResolve(t *testing.T) {
	hybrid, err := parseMountinfo(strings.NewReader(hybridMountinfo))
	if err != nil {
		t.Fatal(err)
	}
	v2, _ := parseMountinfo(strings.NewReader("30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"))
	nested, _ := parseMountinfo(strings.NewReader(
		"700 690 0:32 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"))
	own, _ := parseProcCgroup(strings.NewReader(hybridProcCgroup))

	tests := []struct {
		name   string
		layout layout
		own    map[string]string
		path   string
		want   map[string]string
		err    string
	}{
		{
			name: "hybrid absolute", layout: hybrid, path: "/berth/c1",
			want: map[string]string{
				"cpu":          "/sys/fs/cgroup/cpu,cpuacct/berth/c1",
				"cpuacct":      "/sys/fs/cgroup/cpu,cpuacct/berth/c1",
				"cpuset":       "/sys/fs/cgroup/cpuset/berth/c1",
				"memory":       "/sys/fs/cgroup/memory/berth/c1",
				"name=systemd": "/sys/fs/cgroup/systemd/berth/c1",
				"":             "/sys/fs/cgroup/unified/berth/c1",
			},
		},
		{
			name: "hybrid relative", layout: hybrid, own: own, path: "berth/c1",
			want: map[string]string{
				"cpu":          "/sys/fs/cgroup/cpu,cpuacct/user.slice/berth/c1",
				"cpuacct":      "/sys/fs/cgroup/cpu,cpuacct/user.slice/berth/c1",
				"cpuset":       "/sys/fs/cgroup/cpuset/berth/c1",
				"memory":       "/sys/fs/cgroup/memory/process_api/abc/berth/c1",
				"name=systemd": "/sys/fs/cgroup/systemd/user.slice/session-1.scope/berth/c1",
				"":             "/sys/fs/cgroup/unified/user.slice/session-1.scope/berth/c1",
			},
		},
		{
			name: "v2 absolute", layout: v2, path: "/berth/c1",
			want: map[string]string{"": "/sys/fs/cgroup/berth/c1"},
		},
		{
			name: "v2 relative", layout: v2, own: map[string]string{"": "/system.slice/berthd.service"}, path: "c1",
			want: map[string]string{"": "/sys/fs/cgroup/system.slice/berthd.service/c1"},
		},
		{
			name: "bind-mounted subtree, relative", layout: nested,
			own: map[string]string{"memory": "/docker/abc/sub"}, path: "c1",
			want: map[string]string{"memory": "/sys/fs/cgroup/memory/sub/c1"},
		},
		{
			name: "bind-mounted subtree, absolute", layout: nested, path: "/c1",
			want: map[string]string{"memory": "/sys/fs/cgroup/memory/c1"},
		},
		{
			name: "own cgroup outside the mount", layout: nested,
			own: map[string]string{"memory": "/other"}, path: "c1", err: "outside the root",
		},
		{
			name: "own cgroup not listed", layout: v2, own: map[string]string{}, path: "c1",
			err: "not listed in /proc/self/cgroup",
		},
		{
			name: "no cgroup filesystem", layout: layout{}, path: "/c1", err: errNoCgroupFS.Error(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := tt.layout.manager(tt.own, tt.path)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Paths(); !maps.Equal(got, tt.want) {
				t.Errorf("Paths() = %v\nwant %v", got, tt.want)
			}
		})
	}
}

// TestNewOnHost resolves paths against this host's real mountinfo and
// /proc/self/cgroup without creating anything.
func TestNewOnHost(t *testing.T) {
	l, err := readLayout()
	if err != nil {
		t.Skipf("cannot read mountinfo: %v", err)
	}
	if l.mode() == "" {
		t.Skip("no cgroup filesystem mounted")
	}
	own, err := readOwnCgroups()
	if err != nil {
		t.Fatal(err)
	}
	// The first hierarchy New uses: any v1 one, or the unified one.
	mnt, key := l.v2, ""
	if l.mode() != ModeV2 {
		mnt, key = &l.v1[0], l.v1[0].subsystems[0]
	}
	rel, err := filepath.Rel(mnt.root, own[key])
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ path, want string }{
		{"/berth-resolve/c1", filepath.Join(mnt.mountpoint, "berth-resolve/c1")},
		{"berth-resolve/c1", filepath.Join(mnt.mountpoint, rel, "berth-resolve/c1")},
	} {
		t.Run(tt.path, func(t *testing.T) {
			m, err := New(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Paths()[key]; got != tt.want {
				t.Errorf("Paths()[%q] = %q, want %q", key, got, tt.want)
			}
			if _, err := os.Stat(tt.want); err == nil {
				t.Errorf("New created %s", tt.want)
			}
		})
	}
	if got, want := Mode(), l.mode(); got != want {
		t.Errorf("Mode() = %q, want %q", got, want)
	}
}
