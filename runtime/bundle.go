package runtime

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-project/berth/oci"
)

// busyboxApplets are the commands linked to busybox in an example rootfs.
var busyboxApplets = []string{
	"sh", "ash", "cat", "echo", "env", "hostname", "id", "ls", "mkdir", "mount", "ps",
	"sleep", "true", "false", "uname", "touch", "rm", "grep", "head", "stat", "test", "[", "wc",
	"ln", "cp", "mv", "chmod", "readlink", "tty", "kill", "umask", "top", "df", "date", "seq",
}

// ExampleBundle prepares a bundle in dir: a rootfs holding a static busybox
// with its common applets linked, and a config.json running args (without a
// terminal). It is the built-in example of the quick start.
func ExampleBundle(dir, busybox string, args []string) (*specs.Spec, error) {
	rootfs := filepath.Join(dir, "rootfs")
	for _, d := range []string{"bin", "proc", "sys", "dev", "etc", "tmp", "root"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			return nil, err
		}
	}
	if err := os.Chmod(filepath.Join(rootfs, "tmp"), 0o1777); err != nil {
		return nil, err
	}
	if err := copyFile(busybox, filepath.Join(rootfs, "bin", "busybox"), 0o755); err != nil {
		return nil, fmt.Errorf("copy busybox: %w", err)
	}
	for _, a := range busyboxApplets {
		link := filepath.Join(rootfs, "bin", a)
		os.Remove(link)
		if err := os.Symlink("busybox", link); err != nil {
			return nil, err
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"etc/group":  "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n",
		"etc/hosts":  "127.0.0.1\tlocalhost\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(rootfs, name), []byte(content), 0o644); err != nil {
			return nil, err
		}
	}
	s := oci.DefaultSpec()
	s.Process.Terminal = false
	s.Process.Args = args
	os.Remove(filepath.Join(dir, oci.ConfigFile))
	if err := oci.WriteSpec(dir, s); err != nil {
		return nil, err
	}
	return s, nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	os.Remove(dst)
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
