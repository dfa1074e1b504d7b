package image

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

const testPasswd = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin

# a comment, then entries a careless parser would read as uid 0
broken:x:abc:0:broken:/broken:/bin/sh
short:x
+nis::0:0:::
app:x:1000:1000:App:/home/app:/bin/sh
nohome:x:1001:1001::
dup:x:1002:1002::/first:/bin/sh
dup:x:1003:1003::/second:/bin/sh
big:x:4294967295:0::/big:
`

const testGroup = `root:x:0:root
wheel:x:10:root,app
staff:x:50: app , other
app:x:1000:
audio:x:29:
weird:x:bad:app
apps:x:60:appx,xapp
`

// writeRootfs makes a rootfs with etc/passwd and etc/group (when not "").
func writeRootfs(t *testing.T, passwd, group string) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{"passwd": passwd, "group": group} {
		if data == "" {
			continue
		}
		if err := os.WriteFile(filepath.Join(root, "etc", name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestLookupUser(t *testing.T) {
	rootfs := writeRootfs(t, testPasswd, testGroup)
	tests := []struct {
		spec string
		want ExecUser
		err  string
	}{
		{spec: "", want: ExecUser{UID: 0, GID: 0, AdditionalGids: []uint32{0, 10}, Home: "/root"}},
		{spec: "root", want: ExecUser{UID: 0, GID: 0, AdditionalGids: []uint32{0, 10}, Home: "/root"}},
		{spec: "0", want: ExecUser{UID: 0, GID: 0, AdditionalGids: []uint32{0, 10}, Home: "/root"}},
		{spec: "daemon", want: ExecUser{UID: 1, GID: 1, Home: "/usr/sbin"}},
		{spec: "app", want: ExecUser{UID: 1000, GID: 1000, AdditionalGids: []uint32{10, 50}, Home: "/home/app"}},
		{spec: "1000", want: ExecUser{UID: 1000, GID: 1000, AdditionalGids: []uint32{10, 50}, Home: "/home/app"}},
		{spec: "app:", want: ExecUser{UID: 1000, GID: 1000, AdditionalGids: []uint32{10, 50}, Home: "/home/app"}},
		{spec: "1000:50", want: ExecUser{UID: 1000, GID: 50, Home: "/home/app"}},
		{spec: "app:audio", want: ExecUser{UID: 1000, GID: 29, Home: "/home/app"}},
		{spec: "app:29", want: ExecUser{UID: 1000, GID: 29, Home: "/home/app"}},
		{spec: "app:777", want: ExecUser{UID: 1000, GID: 777, Home: "/home/app"}},
		{spec: "4242", want: ExecUser{UID: 4242, GID: 0, Home: "/"}},
		{spec: "4242:4343", want: ExecUser{UID: 4242, GID: 4343, Home: "/"}},
		{spec: "4242:staff", want: ExecUser{UID: 4242, GID: 50, Home: "/"}},
		{spec: "nohome", want: ExecUser{UID: 1001, GID: 1001, Home: "/"}},
		{spec: "dup", want: ExecUser{UID: 1002, GID: 1002, Home: "/first"}},
		{spec: "2147483647", want: ExecUser{UID: 2147483647, Home: "/"}},
		{spec: "nobody", err: "unable to find user nobody: no matching entries in passwd file"},
		{spec: "broken", err: "unable to find user broken: no matching entries in passwd file"},
		{spec: "short", err: "unable to find user short: no matching entries in passwd file"},
		{spec: "+nis", err: "unable to find user +nis: no matching entries in passwd file"},
		{spec: "big", err: "unable to find user big: no matching entries in passwd file"},
		{spec: "app:nogroup", err: "unable to find group nogroup: no matching entries in group file"},
		{spec: "app:weird", err: "unable to find group weird: no matching entries in group file"},
		{spec: "-1", err: "uids and gids must be in range 0-2147483647"},
		{spec: "2147483648", err: "uids and gids must be in range 0-2147483647"},
		{spec: "0:-5", err: "uids and gids must be in range 0-2147483647"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			u, err := LookupUser(rootfs, tt.spec)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("LookupUser(%q) = %+v, %v; want error %q", tt.spec, u, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(u, tt.want) {
				t.Errorf("got %+v, want %+v", u, tt.want)
			}
		})
	}
	if _, err := LookupUser(rootfs, "nobody"); !errors.Is(err, ErrNoPasswdEntries) {
		t.Errorf("unknown user: %v does not wrap ErrNoPasswdEntries", err)
	}
	if _, err := LookupUser(rootfs, "app:nogroup"); !errors.Is(err, ErrNoGroupEntries) {
		t.Errorf("unknown group: %v does not wrap ErrNoGroupEntries", err)
	}
}

// Without /etc/passwd and /etc/group (scratch images) numbers still work.
func TestLookupUserNoFiles(t *testing.T) {
	for _, rootfs := range []string{t.TempDir(), writeRootfs(t, "", "")} {
		for spec, want := range map[string]ExecUser{
			"":          {Home: "/"},
			"0":         {Home: "/"},
			"1000":      {UID: 1000, Home: "/"},
			"1000:1000": {UID: 1000, GID: 1000, Home: "/"},
		} {
			u, err := LookupUser(rootfs, spec)
			if err != nil || !reflect.DeepEqual(u, want) {
				t.Errorf("LookupUser(%q) = %+v, %v; want %+v", spec, u, err, want)
			}
		}
		if _, err := LookupUser(rootfs, "root"); err == nil || err.Error() != "unable to find user root: no matching entries in passwd file" {
			t.Errorf("root without passwd: %v", err)
		}
		if _, err := LookupUser(rootfs, "0:root"); err == nil || err.Error() != "unable to find group root: no matching entries in group file" {
			t.Errorf("group root without group file: %v", err)
		}
	}
	// /etc a file: as missing.
	rootfs := t.TempDir()
	if err := os.WriteFile(filepath.Join(rootfs, "etc"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if u, err := LookupUser(rootfs, "5:6"); err != nil || u.UID != 5 || u.GID != 6 {
		t.Errorf("LookupUser with /etc a file = %+v, %v", u, err)
	}
}

// The image's /etc/passwd and /etc/group may be symlinks meant to read the
// host's files: they must resolve inside the rootfs, or fail.
func TestLookupUserSymlinksStayInRootfs(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("RESOLVE_IN_ROOT semantics are Linux's")
	}
	if _, err := os.Stat("/etc/passwd"); err != nil {
		t.Skip("no host /etc/passwd to be tempted by")
	}
	outside := t.TempDir()
	evil := filepath.Join(outside, "passwd")
	if err := os.WriteFile(evil, []byte("evil:x:0:0::/evil:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	symlinkRootfs := func(t *testing.T, link, target string) string {
		t.Helper()
		root := writeRootfs(t, "", "")
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, link)), 0o755); err != nil {
			t.Fatal(err)
		}
		if link == "etc" {
			os.Remove(filepath.Join(root, "etc"))
		}
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
		return root
	}
	up := strings.Repeat("../", 20)

	t.Run("passwd to the host's /etc/passwd", func(t *testing.T) {
		// Inside the rootfs, /etc/passwd -> /etc/passwd is a loop.
		rootfs := symlinkRootfs(t, "etc/passwd", "/etc/passwd")
		u, err := LookupUser(rootfs, "root")
		if err == nil {
			t.Fatalf("read the host's passwd: %+v", u)
		}
		if !errors.Is(err, syscall.ELOOP) {
			t.Errorf("error %v, want ELOOP", err)
		}
	})
	t.Run("passwd climbing out with ..", func(t *testing.T) {
		rootfs := symlinkRootfs(t, "etc/passwd", up+"etc/passwd")
		if u, err := LookupUser(rootfs, "root"); err == nil {
			t.Fatalf("read the host's passwd: %+v", u)
		}
		rootfs = symlinkRootfs(t, "etc/passwd", up+strings.TrimPrefix(evil, "/"))
		if u, err := LookupUser(rootfs, "evil"); err == nil || !errors.Is(err, ErrNoPasswdEntries) {
			t.Fatalf("LookupUser(evil) = %+v, %v; want no passwd entry", u, err)
		}
	})
	t.Run("passwd absolute to a host file", func(t *testing.T) {
		rootfs := symlinkRootfs(t, "etc/passwd", evil)
		if u, err := LookupUser(rootfs, "evil"); err == nil || !errors.Is(err, ErrNoPasswdEntries) {
			t.Fatalf("LookupUser(evil) = %+v, %v; want no passwd entry", u, err)
		}
	})
	t.Run("etc to the host's /etc", func(t *testing.T) {
		for _, target := range []string{"/etc", up + "etc"} {
			rootfs := symlinkRootfs(t, "etc", target)
			if u, err := LookupUser(rootfs, "root"); err == nil {
				t.Fatalf("etc -> %s: read the host's passwd: %+v", target, u)
			}
		}
	})
	t.Run("group to the host's /etc/group", func(t *testing.T) {
		rootfs := symlinkRootfs(t, "etc/group", "/etc/group")
		if err := os.WriteFile(filepath.Join(rootfs, "etc", "passwd"), []byte(testPasswd), 0o644); err != nil {
			t.Fatal(err)
		}
		if u, err := LookupUser(rootfs, "app"); err == nil {
			t.Fatalf("read the host's group: %+v", u)
		}
	})
	t.Run("absolute symlink inside the image", func(t *testing.T) {
		// A legitimate image: /etc/passwd -> /usr/lib/passwd, resolved in the rootfs.
		rootfs := symlinkRootfs(t, "etc/passwd", "/usr/lib/passwd")
		os.MkdirAll(filepath.Join(rootfs, "usr", "lib"), 0o755)
		if err := os.WriteFile(filepath.Join(rootfs, "usr", "lib", "passwd"), []byte("app:x:7:8::/in:\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		u, err := LookupUser(rootfs, "app")
		if err != nil || u.UID != 7 || u.GID != 8 || u.Home != "/in" {
			t.Fatalf("LookupUser(app) = %+v, %v", u, err)
		}
	})
}

// A FIFO, a directory or a huge file as /etc/passwd fail, without hanging.
func TestLookupUserNotARegularFile(t *testing.T) {
	fifo := writeRootfs(t, "", "")
	if err := syscall.Mkfifo(filepath.Join(fifo, "etc", "passwd"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := writeRootfs(t, "", "")
	if err := os.Mkdir(filepath.Join(dir, "etc", "passwd"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, rootfs := range map[string]string{"fifo": fifo, "dir": dir} {
		done := make(chan error, 1)
		go func() { _, err := LookupUser(rootfs, "root"); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("%s as passwd: %v", name, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s as passwd: LookupUser hangs", name)
		}
	}

	big := writeRootfs(t, "root:x:0:0::/root:\n", "")
	if _, err := readFileInRoot(big, "/etc/passwd", 8); err == nil || !strings.Contains(err.Error(), "larger than 8 bytes") {
		t.Errorf("oversized passwd: %v", err)
	}
	if data, err := readFileInRoot(big, "/etc/passwd", 1<<10); err != nil || string(data) != "root:x:0:0::/root:\n" {
		t.Errorf("readFileInRoot = %q, %v", data, err)
	}
}
