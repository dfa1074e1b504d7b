package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-project/berth/internal/gate"
	bnet "github.com/berth-project/berth/network"
)

// berthBin is the berth binary the tests drive, built once.
var berthBin string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if os.Geteuid() != 0 {
		return m.Run() // the tests that need root skip themselves
	}
	dir, err := os.MkdirTemp("", "berth-cli-test")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	berthBin = filepath.Join(dir, "berth")
	cmd := exec.Command("go", "build", "-tags", "osusergo,netgo", "-ldflags", "-extldflags=-static", "-o", berthBin, ".")
	if b, err := cmd.CombinedOutput(); err != nil {
		panic(fmt.Sprintf("build berth: %v\n%s", err, b))
	}
	return m.Run()
}

// cli is one test's berth: its own data root and runtime state root.
type cli struct {
	t        *testing.T
	root     string
	execRoot string // BERTH_EXEC_ROOT: where a daemon of this test listens
	netName  string // BERTH_NET_NAME: its default bridge and nftables table
	env      []string
}

func newCLI(t *testing.T) *cli {
	t.Helper()
	gate.Root(t)
	dir := t.TempDir()
	c := &cli{t: t, root: filepath.Join(dir, "data")}
	// Its own exec root: the default daemon socket is under it, so no
	// daemon answers there and berth runs the engine in-process, on this
	// test's roots (an end-to-end test starts a daemon with this exec
	// root to be reached). Short, as the monitors' sockets live under it
	// and a unix socket path has at most 107 bytes.
	execRoot, err := os.MkdirTemp("", "bx")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(execRoot) })
	c.execRoot = execRoot
	// Its own default bridge and nftables table, so that tests running
	// at the same time do not rewrite each other's rules.
	c.netName = fmt.Sprintf("bt%x", rand.Uint32())
	t.Cleanup(func() {
		bnet.DeleteRules(c.netName)
		bnet.DeleteBridge(c.netName)
	})
	c.env = append(os.Environ(), "BERTH_NET_NAME="+c.netName, "BERTH_ROOT="+c.root, "BERTH_RUNTIME_ROOT="+filepath.Join(dir, "state"),
		"BERTH_EXEC_ROOT="+execRoot, "DOCKER_CONFIG="+filepath.Join(dir, "docker"))
	return c
}

type result struct {
	stdout, stderr string
	code           int
}

func (c *cli) run(stdin []byte, args ...string) result {
	c.t.Helper()
	cmd := exec.Command(berthBin, args...)
	cmd.Env = c.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("berth %s: %v", strings.Join(args, " "), err)
	}
	return result{out.String(), errb.String(), code}
}

// ok runs berth and fails the test unless it exits 0; it returns stdout.
func (c *cli) ok(args ...string) string {
	c.t.Helper()
	r := c.run(nil, args...)
	if r.code != 0 {
		c.t.Fatalf("berth %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// fails runs berth, wants a non-zero exit and want in stderr.
func (c *cli) fails(want string, args ...string) result {
	c.t.Helper()
	r := c.run(nil, args...)
	if r.code == 0 || !strings.Contains(r.stderr, want) {
		c.t.Fatalf("berth %s: exit %d, stderr %q; want a failure saying %q", strings.Join(args, " "), r.code, r.stderr, want)
	}
	return r
}
