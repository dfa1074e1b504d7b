package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-project/berth/internal/gate"
	"golang.org/x/sys/unix"
)

// breakout is a tar that tries to reach outside the root it is applied to.
type breakout struct {
	name string
	// setup prepares root (as lower layers or a hostile image left it).
	setup func(t *testing.T, root, outside string)
	// ents are the tar's entries; outside is the absolute path of the
	// directory next to root that holds the sentinels.
	ents func(outside string) []ent
	// check, if set, looks at where things landed inside root.
	check func(t *testing.T, root, outside string)
}

func wh(name string) ent { return ent{name: name, typ: tar.TypeReg} }

func inRoot(root, p string) string { return filepath.Join(root, p) }

func wantContent(t *testing.T, p, want string) {
	t.Helper()
	if b, err := os.ReadFile(p); err != nil || string(b) != want {
		t.Errorf("%s = %q (%v), want %q", p, b, err, want)
	}
}

func wantType(t *testing.T, p string, typ uint32) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil || st.Mode&unix.S_IFMT != typ {
		t.Errorf("%s: mode %o (%v), want type %o", p, st.Mode, err, typ)
	}
}

var breakouts = []breakout{
	{
		name: "dotdot name",
		ents: func(o string) []ent {
			return []ent{file("../outside/sentinel", "pwned"), file("../../../../../../../etc/berth-escape", "x")}
		},
		check: func(t *testing.T, root, o string) {
			wantContent(t, inRoot(root, "outside/sentinel"), "pwned")
			wantContent(t, inRoot(root, "etc/berth-escape"), "x")
		},
	},
	{
		name: "dotdot in the middle and long",
		ents: func(o string) []ent {
			return []ent{
				file("a/../../outside/sentinel", "pwned"),
				file("a/"+strings.Repeat("../", 60)+"outside/dir/inner", "pwned"),
			}
		},
		check: func(t *testing.T, root, o string) { wantContent(t, inRoot(root, "outside/dir/inner"), "pwned") },
	},
	{
		name: "absolute names",
		ents: func(o string) []ent {
			return []ent{file(o+"/sentinel", "pwned"), file("/berth-escape-abs", "x"), dir(o + "/dir").withMode(0o777)}
		},
		check: func(t *testing.T, root, o string) {
			wantContent(t, inRoot(root, o+"/sentinel"), "pwned")
			if exists("/berth-escape-abs") {
				t.Error("/berth-escape-abs made on the host")
			}
		},
	},
	{
		name: "symlink to / then write through it",
		ents: func(o string) []ent {
			return []ent{symlink("l", "/"), file("l"+o+"/sentinel", "pwned"), file("l/etc/x", "x")}
		},
		check: func(t *testing.T, root, o string) {
			wantContent(t, inRoot(root, o+"/sentinel"), "pwned")
			wantContent(t, inRoot(root, "etc/x"), "x")
		},
	},
	{
		name: "symlink to ../../.. then write through it",
		ents: func(o string) []ent {
			return []ent{symlink("l", "../../../../../../../.."), file("l"+o+"/sentinel", "pwned"), file("l/../outside/sentinel", "p2")}
		},
		check: func(t *testing.T, root, o string) { wantContent(t, inRoot(root, o+"/sentinel"), "pwned") },
	},
	{
		name: "relative symlink to the outside directory",
		ents: func(o string) []ent {
			return []ent{symlink("l", "../outside"), file("l/sentinel", "pwned"), dir("l/dir").withMode(0o700), file("l/new", "x")}
		},
	},
	{
		name: "absolute symlink to the outside directory",
		ents: func(o string) []ent {
			return []ent{symlink("l", o), file("l/sentinel", "pwned"), file("l/dir/inner", "pwned"), dir("l/dir").withMode(0o700)}
		},
	},
	{
		name: "symlink chain",
		ents: func(o string) []ent {
			return []ent{symlink("a", "b"), symlink("b", "c/d"), symlink("c", "/e/../"), symlink("e", o), file("a/sentinel", "pwned"), file("a/new", "x")}
		},
	},
	{
		name: "symlink with dotdot after a directory",
		ents: func(o string) []ent {
			return []ent{dir("a"), symlink("x", "a/../../../outside"), file("x/sentinel", "pwned")}
		},
	},
	{
		name: "symlink loop",
		ents: func(o string) []ent { return []ent{symlink("a", "b"), symlink("b", "a"), file("a/x", "")} },
	},
	{
		name: "hardlink to /etc/passwd",
		ents: func(o string) []ent { return []ent{hardlink("h", "/etc/passwd"), file("h", "pwned")} },
	},
	{
		name: "hardlink to /etc/passwd of the root",
		setup: func(t *testing.T, root, o string) {
			os.MkdirAll(inRoot(root, "etc"), 0o755)
			os.WriteFile(inRoot(root, "etc/passwd"), []byte("inside"), 0o644)
		},
		ents: func(o string) []ent { return []ent{hardlink("h", "/etc/passwd")} },
		check: func(t *testing.T, root, o string) {
			if a, b := lstatT(t, inRoot(root, "h")), lstatT(t, inRoot(root, "etc/passwd")); a.Ino != b.Ino {
				t.Error("h is not a link of the root's /etc/passwd")
			}
		},
	},
	{
		name: "hardlink to ../outside",
		ents: func(o string) []ent {
			return []ent{hardlink("h", "../outside/sentinel"), hardlink("h2", "../../../"+o+"/sentinel")}
		},
	},
	{
		name: "hardlink to an absolute outside path",
		ents: func(o string) []ent { return []ent{hardlink("h", o+"/sentinel")} },
	},
	{
		name: "hardlink through a symlinked directory",
		ents: func(o string) []ent {
			return []ent{symlink("s", o), hardlink("h", "s/sentinel"), symlink("r", "../outside"), hardlink("h2", "r/sentinel")}
		},
	},
	{
		name: "hardlink through an existing symlinked directory",
		setup: func(t *testing.T, root, o string) {
			os.Symlink(o, inRoot(root, "s"))
		},
		ents: func(o string) []ent { return []ent{hardlink("h", "s/sentinel"), file("h", "pwned")} },
	},
	{
		name: "hardlink to a symlink pointing outside, then written",
		ents: func(o string) []ent {
			return []ent{symlink("s", o+"/sentinel"), hardlink("h", "s"), file("h", "pwned").withMode(0o777), fifo("s")}
		},
		check: func(t *testing.T, root, o string) {
			wantContent(t, inRoot(root, "h"), "pwned")
			wantType(t, inRoot(root, "s"), unix.S_IFIFO)
		},
	},
	{
		name: "hardlink then a file of the same name",
		setup: func(t *testing.T, root, o string) {
			os.WriteFile(inRoot(root, "victim"), []byte("orig"), 0o644)
		},
		ents: func(o string) []ent {
			return []ent{hardlink("h", "victim"), file("h", "pwned").withMode(0o4777).withOwner(5, 5), hardlink("h2", "/victim")}
		},
		check: func(t *testing.T, root, o string) {
			wantContent(t, inRoot(root, "victim"), "orig")
			if st := lstatT(t, inRoot(root, "victim")); st.Mode != unix.S_IFREG|0o644 || st.Uid != 0 {
				t.Errorf("victim: mode %o uid %d", st.Mode, st.Uid)
			}
		},
	},
	{
		name: "symlink then a directory of the same name",
		ents: func(o string) []ent {
			return []ent{symlink("d", o), dir("d").withMode(0o777).withOwner(42, 42), file("d/sentinel", "pwned")}
		},
		check: func(t *testing.T, root, o string) {
			wantType(t, inRoot(root, "d"), unix.S_IFDIR)
			wantContent(t, inRoot(root, "d/sentinel"), "pwned")
		},
	},
	{
		name: "directory entry over an existing symlink pointing outside",
		setup: func(t *testing.T, root, o string) {
			os.Symlink(o, inRoot(root, "etc"))
			os.Symlink(o+"/dir", inRoot(root, "var"))
		},
		ents: func(o string) []ent {
			return []ent{dir("etc").withMode(0o700).withOwner(99, 99), file("etc/sentinel", "pwned"), dir("var/").withMode(0o777).withXattr("user.x", "1")}
		},
		check: func(t *testing.T, root, o string) {
			wantType(t, inRoot(root, "etc"), unix.S_IFDIR)
			wantType(t, inRoot(root, "var"), unix.S_IFDIR)
			wantContent(t, inRoot(root, "etc/sentinel"), "pwned")
		},
	},
	{
		name: "entries below an existing symlink pointing outside",
		setup: func(t *testing.T, root, o string) {
			os.Symlink(o, inRoot(root, "abs"))
			os.Symlink("../outside", inRoot(root, "rel"))
		},
		ents: func(o string) []ent {
			return []ent{file("abs/sentinel", "pwned"), fifo("abs/fifo"), file("rel/sentinel", "pwned"), dir("rel/dir").withMode(0o700)}
		},
	},
	{
		name: "whiteout names that climb",
		setup: func(t *testing.T, root, o string) {
			os.WriteFile(inRoot(root, "sentinel"), []byte("root's"), 0o644)
		},
		ents: func(o string) []ent {
			return []ent{wh("../.wh.sentinel"), wh("../../outside/.wh.dir"), wh(o + "/.wh.sentinel")}
		},
		check: func(t *testing.T, root, o string) {
			if st, err := os.Lstat(inRoot(root, "sentinel")); err == nil && st.Mode().IsRegular() {
				t.Error("root's sentinel was not whited out")
			}
		},
	},
	{
		name: "whiteout of dotdot",
		ents: func(o string) []ent { return []ent{wh("a/.wh...")} },
	},
	{
		name: "whiteout of dot",
		ents: func(o string) []ent { return []ent{wh(".wh..")} },
	},
	{
		name: "whiteout through a symlinked directory",
		ents: func(o string) []ent {
			return []ent{symlink("l", o), wh("l/.wh.sentinel"), symlink("r", "../outside"), wh("r/.wh.dir")}
		},
	},
	{
		name: "whiteout of an existing symlink to outside removes the link",
		setup: func(t *testing.T, root, o string) {
			os.Symlink(o, inRoot(root, "link"))
			os.Symlink(o+"/sentinel", inRoot(root, "flink"))
		},
		ents: func(o string) []ent { return []ent{wh(".wh.link"), wh(".wh.flink")} },
	},
	{
		name: "opaque marker in a symlinked directory",
		ents: func(o string) []ent {
			return []ent{symlink("l", o), wh("l/.wh..wh..opq"), symlink("r", "../outside"), wh("r/.wh..wh..opq"), wh("r/dir/.wh..wh..opq")}
		},
	},
	{
		name: "opaque marker in an existing symlink to outside",
		setup: func(t *testing.T, root, o string) {
			os.Symlink(o, inRoot(root, "l"))
		},
		ents: func(o string) []ent { return []ent{wh("l/.wh..wh..opq")} },
	},
	{
		name: "opaque marker through a symlink to /",
		setup: func(t *testing.T, root, o string) {
			os.Symlink(o, inRoot(root, "keeps-pointing-out"))
		},
		ents: func(o string) []ent { return []ent{symlink("l", "/"), wh("l/.wh..wh..opq")} },
	},
	{
		name: "device through a symlinked parent",
		ents: func(o string) []ent {
			return []ent{symlink("dev", o), chardev("dev/null", 1, 3), symlink("d2", "/"), chardev("d2/null2", 1, 3)}
		},
	},
	{
		name:  "device through a symlink to /",
		ents:  func(o string) []ent { return []ent{symlink("d2", "/"), chardev("d2/null2", 1, 3)} },
		check: func(t *testing.T, root, o string) { wantType(t, inRoot(root, "null2"), unix.S_IFCHR) },
	},
	{
		name: "xattrs on a symlink to outside",
		ents: func(o string) []ent {
			return []ent{
				symlink("s", o+"/sentinel").withXattr("user.x", "1").withXattr("trusted.x", "1"),
				symlink("d", o+"/dir").withXattr("trusted.overlay.opaque", "y"),
			}
		},
	},
	{
		name: "file over an existing symlink to outside: chmod, chown",
		setup: func(t *testing.T, root, o string) {
			for _, n := range []string{"f", "g", "h", "i", "j", "k"} {
				os.Symlink(o+"/sentinel", inRoot(root, n))
			}
			os.Symlink(o+"/dir", inRoot(root, "dl"))
			os.WriteFile(inRoot(root, "victim"), nil, 0o644)
		},
		ents: func(o string) []ent {
			return []ent{
				file("f", "mine").withMode(0o4777).withOwner(1234, 1234).withXattr("user.x", "1"),
				fifo("g").withMode(0o777).withOwner(7, 7),
				chardev("h", 1, 3).withOwner(7, 7),
				symlink("i", "x").withOwner(5, 5),
				hardlink("j", "victim"),
				dir("k").withMode(0o777),
				dir("dl").withMode(0o777).withOwner(3, 3),
			}
		},
		check: func(t *testing.T, root, o string) {
			wantContent(t, inRoot(root, "f"), "mine")
			if st := lstatT(t, inRoot(root, "f")); st.Mode != unix.S_IFREG|0o4777 || st.Uid != 1234 {
				t.Errorf("f: mode %o uid %d", st.Mode, st.Uid)
			}
			wantType(t, inRoot(root, "g"), unix.S_IFIFO)
			wantType(t, inRoot(root, "h"), unix.S_IFCHR)
			wantType(t, inRoot(root, "k"), unix.S_IFDIR)
			if l, _ := os.Readlink(inRoot(root, "i")); l != "x" {
				t.Errorf("i -> %q", l)
			}
		},
	},
	{
		name: "magic link through /proc",
		setup: func(t *testing.T, root, o string) {
			os.Mkdir(inRoot(root, "proc"), 0o555)
			if err := unix.Mount("proc", inRoot(root, "proc"), "proc", 0, ""); err != nil {
				t.Skipf("mount proc: %v", err)
			}
			t.Cleanup(func() { unix.Unmount(inRoot(root, "proc"), unix.MNT_DETACH) })
		},
		ents: func(o string) []ent {
			return []ent{
				symlink("p", "/proc/self/root"+o), file("p/sentinel", "pwned"),
				symlink("q", "/proc/self/cwd"), file("q/x", "pwned"),
				hardlink("h", "/proc/self/root"+o+"/sentinel"),
			}
		},
	},
}

// guard records what an escaping apply could change outside root: the
// sibling directory (with inode change times, so chmod, chown, xattrs and
// links show), the directory holding both, and host files.
type guard struct {
	outside, base map[string]string
	host          map[string]string
}

var hostPaths = []string{"/etc/passwd", "/etc", "/berth-escape-abs", "/null2"}

func takeGuard(t *testing.T, base, outside string) guard {
	t.Helper()
	g := guard{outside: snap(t, outside, snapOpts{dirTimes: true, times: true, ctime: true}), host: map[string]string{}}
	names, _ := listDir(base)
	g.base = map[string]string{"names": strings.Join(names, ",")}
	for _, p := range hostPaths {
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			g.host[p] = err.Error()
			continue
		}
		g.host[p] = fmt.Sprintf("mode=%o nlink=%d ctime=%d.%d mtime=%d.%d", st.Mode, st.Nlink, st.Ctim.Sec, st.Ctim.Nsec, st.Mtim.Sec, st.Mtim.Nsec)
	}
	return g
}

func (g guard) diff(h guard) string {
	return diffSnaps(g.outside, h.outside) + diffSnaps(g.base, h.base) + diffSnaps(g.host, h.host)
}

// TestGuardSeesChanges: the guard notices each kind of change an escape
// would make, so its silence below means something.
func TestGuardSeesChanges(t *testing.T) {
	gate.Root(t)
	for name, change := range map[string]func(base, outside string) error{
		"chmod":  func(b, o string) error { return os.Chmod(filepath.Join(o, "sentinel"), 0o600) },
		"chown":  func(b, o string) error { return os.Lchown(filepath.Join(o, "sentinel"), 0, 0) },
		"xattr":  func(b, o string) error { return unix.Lsetxattr(filepath.Join(o, "sentinel"), "user.x", []byte("1"), 0) },
		"link":   func(b, o string) error { return os.Link(filepath.Join(o, "sentinel"), filepath.Join(b, "root", "h")) },
		"write":  func(b, o string) error { return os.WriteFile(filepath.Join(o, "sentinel"), []byte("keep"), 0o644) },
		"create": func(b, o string) error { return os.WriteFile(filepath.Join(o, "dir", "new"), nil, 0o644) },
		"beside": func(b, o string) error { return os.Mkdir(filepath.Join(b, "x"), 0o755) },
		"times":  func(b, o string) error { return os.Chtimes(filepath.Join(o, "dir"), t0, t0) },
	} {
		t.Run(name, func(t *testing.T) {
			base := t.TempDir()
			outside := filepath.Join(base, "outside")
			os.MkdirAll(filepath.Join(outside, "dir"), 0o755)
			os.Mkdir(filepath.Join(base, "root"), 0o755)
			os.WriteFile(filepath.Join(outside, "sentinel"), []byte("keep"), 0o644)
			before := takeGuard(t, base, outside)
			if err := change(base, outside); err != nil {
				t.Fatal(err)
			}
			if before.diff(takeGuard(t, base, outside)) == "" {
				t.Error("the guard saw nothing")
			}
		})
	}
}

func TestApplyBreakouts(t *testing.T) {
	gate.Root(t)
	for _, mode := range []string{"delete", "overlay"} {
		for _, tc := range breakouts {
			t.Run(mode+"/"+tc.name, func(t *testing.T) {
				base := t.TempDir()
				root, outside := filepath.Join(base, "root"), filepath.Join(base, "outside")
				for _, d := range []string{root, outside, filepath.Join(outside, "dir")} {
					if err := os.Mkdir(d, 0o755); err != nil {
						t.Fatal(err)
					}
				}
				os.WriteFile(filepath.Join(outside, "sentinel"), []byte("keep"), 0o644)
				os.WriteFile(filepath.Join(outside, "dir", "inner"), []byte("keep"), 0o644)
				if tc.setup != nil {
					tc.setup(t, root, outside)
				}
				before := takeGuard(t, base, outside)

				ents := tc.ents(outside)
				var opts []ApplyOption
				if mode == "overlay" {
					opts = append(opts, WithOverlayWhiteouts())
				}
				_, err := Apply(context.Background(), root, bytes.NewReader(mkTar(t, ents...)), opts...)
				if err != nil {
					named := false
					for _, e := range ents {
						named = named || strings.Contains(err.Error(), `entry "`+e.name+`"`)
					}
					if !named {
						t.Errorf("error does not name an entry: %v", err)
					}
					t.Logf("refused: %v", err)
				} else if tc.check != nil {
					tc.check(t, root, outside)
				}

				if d := before.diff(takeGuard(t, base, outside)); d != "" {
					t.Errorf("something outside root changed:\n%s", d)
				}
			})
		}
	}
}
