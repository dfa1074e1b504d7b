package cgroup

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// runDeviceProg interprets the subset of eBPF compileDevices emits, on a
// struct bpf_cgroup_dev_ctx, so that programs can be checked without a
// kernel.
func runDeviceProg(t *testing.T, prog []insn, typ, acc, major, minor uint32) uint32 {
	t.Helper()
	var ctx [12]byte
	binary.NativeEndian.PutUint32(ctx[0:], acc<<16|typ)
	binary.NativeEndian.PutUint32(ctx[4:], major)
	binary.NativeEndian.PutUint32(ctx[8:], minor)
	var reg [11]uint64
	for pc, steps := 0, 0; pc < len(prog); pc, steps = pc+1, steps+1 {
		in := prog[pc]
		if steps > len(prog) {
			t.Fatal("program loops")
		}
		src := uint32(in.imm)
		if in.code&bpfX != 0 {
			src = uint32(reg[in.src])
		}
		dst := uint32(reg[in.dst])
		switch in.code {
		case bpfLdx | bpfW | bpfMem:
			if in.src != rCtx || in.off < 0 || in.off > 8 {
				t.Fatalf("insn %d: load outside the context: %v", pc, in)
			}
			reg[in.dst] = uint64(binary.NativeEndian.Uint32(ctx[in.off:]))
		case bpfAlu | bpfAnd | bpfK, bpfAlu | bpfAnd | bpfX:
			reg[in.dst] = uint64(dst & src)
		case bpfAlu | bpfRsh | bpfK:
			reg[in.dst] = uint64(dst >> src)
		case bpfAlu | bpfMov | bpfK, bpfAlu | bpfMov | bpfX:
			reg[in.dst] = uint64(src)
		case bpfJmp32 | bpfJne | bpfK:
			if dst != src {
				pc += int(in.off)
			}
		case bpfJmp32 | bpfJeq | bpfK:
			if dst == src {
				pc += int(in.off)
			}
		case bpfJmp | bpfExit:
			return uint32(reg[rRet])
		default:
			t.Fatalf("insn %d: unexpected %v", pc, in)
		}
	}
	t.Fatal("program runs off its end")
	return 0
}

func dev(allow bool, typ string, major, minor int64, access string) specs.LinuxDeviceCgroup {
	d := specs.LinuxDeviceCgroup{Allow: allow, Type: typ, Access: access}
	if major >= 0 {
		d.Major = &major
	}
	if minor >= 0 {
		d.Minor = &minor
	}
	return d
}

var denyAll = dev(false, "a", -1, -1, "rwm")

// TestCompileDevices checks the reference semantics on chosen cases and
// then that the compiled program agrees with it on every device and access
// of a grid.
func TestCompileDevices(t *testing.T) {
	type probe struct {
		typ          byte
		major, minor uint32
		access       string
		want         bool
	}
	tests := []struct {
		name   string
		rules  []specs.LinuxDeviceCgroup
		probes []probe
	}{
		{"no rules deny", nil, []probe{{'c', 1, 3, "r", false}}},
		{"allow all", []specs.LinuxDeviceCgroup{dev(true, "", -1, -1, "")}, []probe{{'b', 8, 0, "rwm", true}}},
		{
			"runc defaults",
			[]specs.LinuxDeviceCgroup{
				denyAll, dev(true, "c", -1, -1, "m"), dev(true, "b", -1, -1, "m"),
				dev(true, "c", 1, 3, "rwm"), dev(true, "c", 1, 5, "rwm"), dev(true, "c", 136, -1, "rwm"),
			},
			[]probe{
				{'c', 1, 3, "rw", true}, {'c', 1, 5, "r", true}, {'c', 1, 8, "r", false}, {'c', 1, 8, "m", true},
				{'b', 8, 0, "m", true}, {'b', 8, 0, "r", false}, {'c', 136, 7, "rw", true}, {'c', 5, 1, "rw", false},
			},
		},
		{
			"allow all but one",
			[]specs.LinuxDeviceCgroup{dev(true, "a", -1, -1, "rwm"), dev(false, "b", 8, 0, "rwm")},
			[]probe{{'b', 8, 0, "r", false}, {'b', 8, 1, "r", true}, {'c', 8, 0, "r", true}},
		},
		{
			// An "a *:* rwm" rule forgets the rules before it, as runc.
			"reset forgets earlier rules",
			[]specs.LinuxDeviceCgroup{dev(false, "b", 8, 1, "rwm"), dev(true, "a", -1, -1, "rwm"), dev(false, "b", 8, 2, "rwm")},
			[]probe{{'b', 8, 1, "rw", true}, {'b', 8, 2, "r", false}},
		},
		{
			"bits decided one by one",
			[]specs.LinuxDeviceCgroup{denyAll, dev(true, "c", 1, 3, "r"), dev(true, "c", 1, 3, "w")},
			[]probe{{'c', 1, 3, "rw", true}, {'c', 1, 3, "rwm", false}, {'c', 1, 3, "m", false}},
		},
		{
			"later allow wins over earlier deny",
			[]specs.LinuxDeviceCgroup{dev(true, "a", -1, -1, ""), dev(false, "c", 1, -1, "w"), dev(true, "c", 1, 3, "rw")},
			[]probe{{'c', 1, 3, "rw", true}, {'c', 1, 5, "rw", false}, {'c', 1, 5, "r", true}},
		},
		{
			"later deny wins over earlier allow",
			[]specs.LinuxDeviceCgroup{denyAll, dev(true, "c", 1, -1, "rwm"), dev(false, "c", 1, 5, "w")},
			[]probe{{'c', 1, 5, "r", true}, {'c', 1, 5, "rw", false}, {'c', 1, 3, "rw", true}},
		},
		{
			"type a with numbers is a plain rule",
			[]specs.LinuxDeviceCgroup{denyAll, dev(true, "a", 1, -1, "rw")},
			[]probe{{'c', 1, 9, "rw", true}, {'b', 1, 9, "r", true}, {'c', 1, 9, "m", false}, {'c', 2, 0, "r", false}},
		},
	}
	accessOf := func(s string) int32 {
		r, err := parseDevRule(specs.LinuxDeviceCgroup{Access: s})
		if err != nil {
			t.Fatal(err)
		}
		return r.access
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			def, list, err := deviceRules(tt.rules)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range tt.probes {
				if got := deviceAllowed(def, list, p.typ, p.major, p.minor, accessOf(p.access)); got != p.want {
					t.Errorf("%c %d:%d %s: allowed %v, want %v", p.typ, p.major, p.minor, p.access, got, p.want)
				}
			}
			prog, err := compileDevices(tt.rules)
			if err != nil {
				t.Fatal(err)
			}
			for _, typ := range []byte{'b', 'c'} {
				kind := uint32(unix.BPF_DEVCG_DEV_BLOCK)
				if typ == 'c' {
					kind = unix.BPF_DEVCG_DEV_CHAR
				}
				for _, major := range []uint32{1, 2, 5, 8, 136} {
					for _, minor := range []uint32{0, 1, 2, 3, 5, 9} {
						for acc := int32(1); acc <= accAll; acc++ {
							want := deviceAllowed(def, list, typ, major, minor, acc)
							got := runDeviceProg(t, prog, kind, uint32(acc), major, minor) == 1
							if got != want {
								t.Fatalf("%c %d:%d access %03b: program says %v, rules say %v", typ, major, minor, acc, got, want)
							}
						}
					}
				}
			}
		})
	}
}

func TestCompileDevicesErrors(t *testing.T) {
	tests := []struct {
		name string
		rule specs.LinuxDeviceCgroup
		err  string
	}{
		{"type", specs.LinuxDeviceCgroup{Type: "x"}, "invalid type"},
		{"access", specs.LinuxDeviceCgroup{Access: "rx"}, "invalid access"},
		{"major", dev(true, "c", 1<<33, 0, "r"), "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := compileDevices([]specs.LinuxDeviceCgroup{tt.rule}); err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("compileDevices: err = %v, want %q", err, tt.err)
			}
		})
	}
}

// devicesChildEnv makes the test binary, started by TestV2DevicesKernel,
// act as the process inside the cgroup: for each line on stdin it opens
// /dev/null read-write and /dev/zero read-only and prints the outcomes.
const devicesChildEnv = "BERTH_CGROUP_TEST_DEVICES_CHILD"

func devicesChild() {
	try := func(path string, flags int) string {
		fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0)
		if err != nil {
			return unix.ErrnoName(err.(unix.Errno))
		}
		unix.Close(fd)
		return "ok"
	}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		fmt.Printf("null=%s zero=%s\n", try("/dev/null", unix.O_RDWR), try("/dev/zero", unix.O_RDONLY))
	}
	os.Exit(0)
}

// TestV2DevicesKernel attaches real device programs to a cgroup in this
// host's cgroup2 hierarchy (which takes them even without controllers, as
// the unified mount of a hybrid host) and checks what a process in it may
// open.
func TestV2DevicesKernel(t *testing.T) {
	if os.Getenv(devicesChildEnv) != "" {
		devicesChild()
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	l, err := readLayout()
	if err != nil {
		t.Fatal(err)
	}
	if l.v2 == nil {
		t.Skip("no cgroup2 filesystem mounted")
	}
	dir := filepath.Join(l.v2.mountpoint, "berth-test-"+strings.ToLower(rand.Text()[:10]))
	// Load, not New: on a hybrid host New gives a v1 manager, and a v2
	// manager with a root would enable controllers in the host's root.
	m, err := Load(map[string]string{"": dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Destroy() })

	cmd := exec.Command(os.Args[0], "-test.run=^TestV2DevicesKernel$")
	cmd.Env = append(os.Environ(), devicesChildEnv+"=1")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	out := bufio.NewReader(outPipe)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if err := m.Apply(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, want string) {
		t.Helper()
		if _, err := in.Write([]byte("check\n")); err != nil {
			t.Fatal(err)
		}
		got, err := out.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if got = strings.TrimSpace(got); got != want {
			t.Errorf("child: %s, want %s", got, want)
		}
	}
	attached := func(t *testing.T) int {
		t.Helper()
		fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		ids, _, err := queryDeviceProgs(fd)
		if err != nil {
			t.Fatal(err)
		}
		return len(ids)
	}

	check(t, "null=ok zero=ok")
	steps := []struct {
		name  string
		rules []specs.LinuxDeviceCgroup
		want  string
	}{
		{"allow null", []specs.LinuxDeviceCgroup{denyAll, dev(true, "c", 1, 3, "rw")}, "null=ok zero=EPERM"},
		{"allow zero", []specs.LinuxDeviceCgroup{denyAll, dev(true, "c", 1, 5, "r")}, "null=EPERM zero=ok"},
		{"null read only", []specs.LinuxDeviceCgroup{denyAll, dev(true, "c", 1, -1, "r")}, "null=EPERM zero=ok"},
		{"allow all", []specs.LinuxDeviceCgroup{dev(true, "a", -1, -1, "rwm")}, "null=ok zero=ok"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			// Only devices: Set must not stumble over the missing controllers.
			if err := m.Set(&specs.LinuxResources{Devices: s.rules}); err != nil {
				t.Fatal(err)
			}
			check(t, s.want)
			if n := attached(t); n != 1 {
				t.Errorf("%d device programs attached, want 1 (the old one detached)", n)
			}
		})
	}
	t.Run("stats without controllers", func(t *testing.T) {
		st, err := m.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if st.Pids.Current != 0 || st.Memory.Usage.Usage != 0 {
			t.Errorf("Stats() = %+v, want zero pids and memory without their controllers", st)
		}
	})

	in.Close()
	if err := cmd.Wait(); err != nil {
		t.Errorf("child: %v", err)
	}
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s still there after Destroy: %v", dir, err)
	}
}
