/*
 * The C stage of berth's container init. It runs as an ELF constructor, before
 * the Go runtime starts any thread, because setns(2) into a mount or user
 * namespace, unshare(CLONE_NEWUSER) and entering a pid namespace are only
 * possible (or only take effect) in a single-threaded process. See README.md.
 *
 * It does nothing unless _BERTH_NSENTER names the file descriptor of the
 * socket to the parent. The protocol is line based:
 *
 *   parent -> child: "clone <hex flags>\n" "join <type> <path>\n"...
 *                    "timeoff <clock> <sec> <nsec>\n"... "end\n"
 *   child -> parent: "usermap\n"          (new user namespace made; write maps)
 *   parent -> child: "ok\n"
 *   child -> parent: "pid <n>\n"          (the pid that continues as init)
 *                 or "error <text>\n"     (then exit 1)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

#define MAX_JOIN 16

static int sock = -1;

static void writeall(const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(sock, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		buf += n;
		len -= (size_t)n;
	}
}

static void bail(const char *fmt, ...)
{
	char msg[1024];
	int saved = errno;
	int n = snprintf(msg, sizeof(msg), "error ");
	va_list ap;
	va_start(ap, fmt);
	n += vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	if (saved != 0 && n < (int)sizeof(msg))
		n += snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", strerror(saved));
	if (n >= (int)sizeof(msg) - 1)
		n = sizeof(msg) - 2;
	msg[n++] = '\n';
	writeall(msg, (size_t)n);
	_exit(1);
}

/* readmsg reads from the socket until the buffer ends with term. The parent
 * sends nothing more before we answer, so no byte of a later message is
 * consumed here. */
static size_t readmsg(char *buf, size_t cap, const char *term)
{
	size_t len = 0, tl = strlen(term);
	for (;;) {
		ssize_t n = read(sock, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			errno = n < 0 ? errno : 0;
			bail("read bootstrap from parent");
		}
		len += (size_t)n;
		buf[len] = '\0';
		if (len >= tl && strcmp(buf + len - tl, term) == 0)
			return len;
		if (len >= cap - 1) {
			errno = 0;
			bail("bootstrap message too long");
		}
	}
}

static int nstype(const char *name)
{
	static const struct {
		const char *name;
		int flag;
	} types[] = {
		{ "user", CLONE_NEWUSER }, { "mnt", CLONE_NEWNS },	 { "pid", CLONE_NEWPID },
		{ "net", CLONE_NEWNET },   { "ipc", CLONE_NEWIPC },	 { "uts", CLONE_NEWUTS },
		{ "cgroup", CLONE_NEWCGROUP }, { "time", CLONE_NEWTIME },
	};
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(types[i].name, name) == 0)
			return types[i].flag;
	return 0;
}

static void become_root(const char *how)
{
	if (setresgid(0, 0, 0) < 0)
		bail("setresgid(0) after %s user namespace (is gid 0 mapped?)", how);
	if (setresuid(0, 0, 0) < 0)
		bail("setresuid(0) after %s user namespace (is uid 0 mapped?)", how);
}

void berth_nsenter(void)
{
	const char *env = getenv("_BERTH_NSENTER");
	if (env == NULL || *env == '\0')
		return;
	sock = atoi(env);

	static char buf[65536];
	readmsg(buf, sizeof(buf), "end\n");

	unsigned long flags = 0;
	struct {
		int flag;
		int fd;
		char *path;
		const char *name;
	} joins[MAX_JOIN];
	int njoin = 0;
	char timeoffs[1024] = "";
	size_t timelen = 0;

	for (char *line = buf, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (strncmp(line, "clone ", 6) == 0) {
			flags = strtoul(line + 6, NULL, 16);
		} else if (strncmp(line, "join ", 5) == 0) {
			char *name = line + 5, *path = strchr(name, ' ');
			if (path == NULL || njoin == MAX_JOIN) {
				errno = 0;
				bail("bad join line %s", line);
			}
			*path++ = '\0';
			joins[njoin].flag = nstype(name);
			if (joins[njoin].flag == 0) {
				errno = 0;
				bail("unknown namespace type %s", name);
			}
			joins[njoin].name = name;
			joins[njoin].path = path;
			njoin++;
		} else if (strncmp(line, "timeoff ", 8) == 0) {
			int n = snprintf(timeoffs + timelen, sizeof(timeoffs) - timelen, "%s\n", line + 8);
			if (n < 0 || (size_t)n >= sizeof(timeoffs) - timelen) {
				errno = 0;
				bail("too many time offsets");
			}
			timelen += (size_t)n;
		}
	}

	/* Open every path before joining any namespace: joining the mount
	 * namespace changes what the later paths resolve to. */
	for (int i = 0; i < njoin; i++) {
		joins[i].fd = open(joins[i].path, O_RDONLY | O_CLOEXEC);
		if (joins[i].fd < 0)
			bail("open %s namespace path %s", joins[i].name, joins[i].path);
	}

	/* The user namespace first: it grants the capabilities the others need.
	 * But a namespace that user namespace does not own (the engine's
	 * network namespace, owned by the host's) cannot be joined from inside
	 * it: a privileged caller joins first what it can, and what fails with
	 * EPERM is joined after the user namespace (an unprivileged caller). */
	int need_fork = 0;
	int joined[MAX_JOIN] = { 0 };
	int has_user = 0;
	for (int i = 0; i < njoin; i++)
		has_user |= joins[i].flag == CLONE_NEWUSER;
	for (int pass = 0; has_user && pass < 2; pass++) {
		for (int i = 0; i < njoin; i++) {
			if (joins[i].flag == CLONE_NEWUSER || (pass == 0) == (joins[i].flag == CLONE_NEWNS))
				continue;
			if (setns(joins[i].fd, joins[i].flag) < 0) {
				if (errno != EPERM)
					bail("join %s namespace %s", joins[i].name, joins[i].path);
				continue;
			}
			joined[i] = 1;
			if (joins[i].flag == CLONE_NEWPID || joins[i].flag == CLONE_NEWTIME)
				need_fork = 1;
		}
	}
	for (int i = 0; i < njoin; i++) {
		if (joins[i].flag != CLONE_NEWUSER)
			continue;
		if (setns(joins[i].fd, CLONE_NEWUSER) < 0)
			bail("join user namespace %s", joins[i].path);
		become_root("joined");
	}
	for (int pass = 0; pass < 2; pass++) {
		/* The mount namespace last, so the other joins stay independent of it. */
		for (int i = 0; i < njoin; i++) {
			if (joined[i] || joins[i].flag == CLONE_NEWUSER || (pass == 0) == (joins[i].flag == CLONE_NEWNS))
				continue;
			if (setns(joins[i].fd, joins[i].flag) < 0)
				bail("join %s namespace %s", joins[i].name, joins[i].path);
			if (joins[i].flag == CLONE_NEWPID || joins[i].flag == CLONE_NEWTIME)
				need_fork = 1;
		}
	}
	for (int i = 0; i < njoin; i++)
		close(joins[i].fd);

	if (flags & CLONE_NEWUSER) {
		if (unshare(CLONE_NEWUSER) < 0)
			bail("unshare user namespace");
		/* The parent writes our uid and gid maps; it needs us dumpable to
		 * open /proc/<pid>/uid_map. */
		prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
		writeall("usermap\n", 8);
		char ok[8];
		readmsg(ok, sizeof(ok), "\n");
		if (strcmp(ok, "ok\n") != 0) {
			errno = 0;
			bail("parent did not write the id maps");
		}
		become_root("new");
	}
	unsigned long rest = flags & ~(unsigned long)CLONE_NEWUSER;
	if (rest != 0 && unshare((int)rest) < 0)
		bail("unshare namespaces 0x%lx", rest);
	if (flags & (CLONE_NEWPID | CLONE_NEWTIME))
		need_fork = 1;
	if (timelen > 0) {
		int fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			bail("open /proc/self/timens_offsets");
		if (write(fd, timeoffs, timelen) != (ssize_t)timelen)
			bail("write time offsets %s", timeoffs);
		close(fd);
	}

	char msg[64];
	if (need_fork) {
		/* The child enters the pid (and time) namespace. CLONE_PARENT makes
		 * it a child of berth itself, which then waits for it directly. */
		pid_t pid = (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
		if (pid < 0)
			bail("clone into the new pid namespace");
		if (pid > 0) {
			int n = snprintf(msg, sizeof(msg), "pid %d\n", pid);
			writeall(msg, (size_t)n);
			_exit(0);
		}
	} else {
		int n = snprintf(msg, sizeof(msg), "pid %d\n", getpid());
		writeall(msg, (size_t)n);
	}
	/* Continue into the Go runtime as the container's init. */
}
