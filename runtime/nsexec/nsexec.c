// berth-runtime's C stage. See doc.go. Runs as an ELF constructor, before the Go
// runtime creates any thread, and only when _BERTH_INITPIPE is set.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

// Bootstrap message attribute types (keep in sync with bootstrap.go).
#define T_CLONE_FLAGS 1
#define T_NS_PATH 2
#define T_TIMENS_OFFSETS 3
#define T_SELF_JOIN 4

#define MAX_NS_PATHS 16
#define MAX_MSG (64 * 1024)

static int syncfd = -1;

static int write_full(int fd, const void *buf, size_t n) {
	const char *p = buf;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int read_full(int fd, void *buf, size_t n) {
	char *p = buf;
	while (n > 0) {
		ssize_t r = read(fd, p, n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static int send_frame(char kind, const void *data, uint32_t n) {
	uint32_t len = n + 1;
	char hdr[5];
	memcpy(hdr, &len, 4);
	hdr[4] = kind;
	if (write_full(syncfd, hdr, 5) < 0)
		return -1;
	if (n > 0 && write_full(syncfd, data, n) < 0)
		return -1;
	return 0;
}

__attribute__((noreturn, format(printf, 1, 2))) static void bail(const char *fmt, ...) {
	char buf[1024];
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	if (saved != 0 && (size_t)n + 64 < sizeof(buf))
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, ": %s", strerror(saved));
	send_frame('E', buf, (uint32_t)n);
	_exit(1);
}

static const char *nsname(uint32_t flag) {
	switch (flag) {
	case CLONE_NEWUSER: return "user";
	case CLONE_NEWNS: return "mount";
	case CLONE_NEWUTS: return "uts";
	case CLONE_NEWIPC: return "ipc";
	case CLONE_NEWNET: return "network";
	case CLONE_NEWPID: return "pid";
	case CLONE_NEWCGROUP: return "cgroup";
	case CLONE_NEWTIME: return "time";
	}
	return "unknown";
}

struct nspath {
	uint32_t flag;
	char *path;
	int fd;
};

// glibc passes argc/argv/envp to constructors.
__attribute__((constructor)) static void berth_nsexec(int argc, char **argv, char **envp) {
	(void)envp;
	const char *env = getenv("_BERTH_INITPIPE");
	if (env == NULL || *env == '\0')
		return;
	// Only the hidden init subcommand: a stray variable in anybody's
	// environment must not turn another command into a container init.
	if (argc < 2 || argv == NULL || argv[1] == NULL || strcmp(argv[1], "init") != 0)
		return;
	char *end;
	long fd = strtol(env, &end, 10);
	if (*end != '\0' || fd < 0 || fd > 1 << 20)
		_exit(1);
	syncfd = (int)fd;

	// Keep runtime memory of this process away from the container while we work.
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

	uint32_t len;
	if (read_full(syncfd, &len, 4) < 0)
		bail("nsexec: read bootstrap length");
	if (len > MAX_MSG)
		bail("nsexec: bootstrap message too large (%u bytes)", len);
	char *msg = malloc(len + 1);
	if (msg == NULL)
		bail("nsexec: out of memory");
	if (read_full(syncfd, msg, len) < 0)
		bail("nsexec: read bootstrap message");

	uint32_t cloneflags = 0;
	struct nspath paths[MAX_NS_PATHS];
	int npaths = 0;
	char *timens = NULL;
	uint32_t timens_len = 0;
	int selfjoin = 0;

	uint32_t off = 0;
	while (off + 8 <= len) {
		uint32_t type, alen;
		memcpy(&type, msg + off, 4);
		memcpy(&alen, msg + off + 4, 4);
		off += 8;
		if (alen > len - off)
			bail("nsexec: bootstrap attribute %u overruns message", type);
		char *data = msg + off;
		switch (type) {
		case T_CLONE_FLAGS:
			if (alen != 4)
				bail("nsexec: clone flags attribute has length %u", alen);
			memcpy(&cloneflags, data, 4);
			break;
		case T_NS_PATH: {
			if (alen < 5)
				bail("nsexec: namespace path attribute too short");
			if (npaths >= MAX_NS_PATHS)
				bail("nsexec: too many namespace paths");
			uint32_t flag;
			memcpy(&flag, data, 4);
			char *p = malloc(alen - 4 + 1);
			if (p == NULL)
				bail("nsexec: out of memory");
			memcpy(p, data + 4, alen - 4);
			p[alen - 4] = '\0';
			paths[npaths].flag = flag;
			paths[npaths].path = p;
			paths[npaths].fd = -1;
			npaths++;
			break;
		}
		case T_TIMENS_OFFSETS:
			timens = data;
			timens_len = alen;
			break;
		case T_SELF_JOIN:
			if (alen != 0)
				bail("nsexec: self-join attribute has length %u", alen);
			selfjoin = 1;
			break;
		default:
			bail("nsexec: unknown bootstrap attribute %u", type);
		}
		off += alen;
	}
	if (off != len)
		bail("nsexec: trailing bytes in bootstrap message");

	// Open every path first: once we are in another mount namespace the host's
	// paths no longer resolve.
	for (int i = 0; i < npaths; i++) {
		paths[i].fd = open(paths[i].path, O_RDONLY | O_CLOEXEC);
		if (paths[i].fd < 0)
			bail("linux.namespaces: open %s namespace path %s", nsname(paths[i].flag), paths[i].path);
	}
	// The user namespace first: the others may be owned by it.
	int joined_pid = 0, joined_time = 0;
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < npaths; i++) {
			int isuser = paths[i].flag == CLONE_NEWUSER;
			if ((pass == 0) != isuser)
				continue;
			if (setns(paths[i].fd, (int)paths[i].flag) < 0)
				bail("linux.namespaces: join %s namespace %s", nsname(paths[i].flag), paths[i].path);
			close(paths[i].fd);
			if (paths[i].flag == CLONE_NEWPID)
				joined_pid = 1;
			if (paths[i].flag == CLONE_NEWTIME)
				joined_time = 1;
			if (isuser) {
				if (setresgid(0, 0, 0) < 0)
					bail("nsexec: setresgid(0) in joined user namespace");
				if (setresuid(0, 0, 0) < 0)
					bail("nsexec: setresuid(0) in joined user namespace");
			}
		}
	}

	if (cloneflags & CLONE_NEWUSER) {
		if (unshare(CLONE_NEWUSER) < 0)
			bail("linux.namespaces: create user namespace");
		// The parent writes uid_map/gid_map; it needs /proc/<pid> to be ours.
		prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
		if (send_frame('U', NULL, 0) < 0)
			bail("nsexec: ask for id mappings");
		uint32_t rl;
		char ack[2];
		if (read_full(syncfd, &rl, 4) < 0 || rl != 1 || read_full(syncfd, ack, 1) < 0 || ack[0] != 'u')
			bail("nsexec: parent did not write id mappings");
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
		if (setresgid(0, 0, 0) < 0)
			bail("nsexec: setresgid(0) in new user namespace (is gid 0 mapped?)");
		if (setresuid(0, 0, 0) < 0)
			bail("nsexec: setresuid(0) in new user namespace (is uid 0 mapped?)");
	}

	// The cgroup namespace is made last, by the final process, once the parent
	// has moved it into the container's cgroups (its root is taken from there).
	uint32_t rest = cloneflags & ~(uint32_t)(CLONE_NEWUSER | CLONE_NEWCGROUP);
	if (rest != 0 && unshare((int)rest) < 0)
		bail("linux.namespaces: create namespaces (flags %#x)", rest);

	if ((cloneflags & CLONE_NEWTIME) && timens_len > 0) {
		int tfd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
		if (tfd < 0)
			bail("linux.timeOffsets: open /proc/self/timens_offsets");
		if (write_full(tfd, timens, timens_len) < 0)
			bail("linux.timeOffsets: write offsets");
		close(tfd);
	}

	int32_t pid = (int32_t)getpid();
	if ((cloneflags & (CLONE_NEWPID | CLONE_NEWTIME)) || joined_pid || joined_time) {
		// The final init becomes the runtime's direct child, inside the new
		// pid/time namespaces; this intermediate process reports it and exits.
		long child = syscall(SYS_clone, (unsigned long)(CLONE_PARENT | SIGCHLD), NULL, NULL, NULL, NULL);
		if (child < 0)
			bail("nsexec: clone init into pid namespace");
		if (child > 0) {
			pid = (int32_t)child;
			send_frame('P', &pid, 4);
			_exit(0);
		}
	} else {
		send_frame('P', &pid, 4);
	}
	if ((cloneflags & CLONE_NEWCGROUP) || selfjoin) {
		// The parent's go-ahead: 'c', then the v1 tasks files to join, each
		// NUL-terminated. This process is still single-threaded, so writing
		// "0" moves all of it, without the kernel's global threadgroup lock.
		uint32_t rl;
		if (read_full(syncfd, &rl, 4) < 0 || rl < 1 || rl > MAX_MSG)
			bail("nsexec: parent did not place the process in its cgroup");
		char *cg = malloc(rl + 1);
		if (cg == NULL)
			bail("nsexec: out of memory");
		if (read_full(syncfd, cg, rl) < 0 || cg[0] != 'c')
			bail("nsexec: parent did not place the process in its cgroup");
		cg[rl] = '\0';
		for (uint32_t i = 1; i < rl;) {
			char *p = cg + i;
			size_t n = strlen(p);
			if (n > 0) {
				int tfd = open(p, O_WRONLY | O_CLOEXEC);
				if (tfd < 0)
					bail("cgroups: open %s", p);
				if (write_full(tfd, "0", 1) < 0)
					bail("cgroups: join %s", p);
				close(tfd);
			}
			i += (uint32_t)n + 1;
		}
		free(cg);
		if ((cloneflags & CLONE_NEWCGROUP) && unshare(CLONE_NEWCGROUP) < 0)
			bail("linux.namespaces: create cgroup namespace");
	}
	free(msg);
	for (int i = 0; i < npaths; i++)
		free(paths[i].path);
	// Back to Go: the runtime now starts inside every namespace.
}
