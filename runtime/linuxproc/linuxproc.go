package linuxproc

import (
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-containers/berth/internal/errdefs"
)

// SetHostname sets s.Hostname and s.Domainname (each only when non-empty).
func SetHostname(s *specs.Spec) error { return errdefs.ErrNotImplemented }

// ApplySysctl writes each key (dotted, e.g. "net.ipv4.ip_forward") under
// /proc/sys through OpenProc.
func ApplySysctl(m map[string]string) error { return errdefs.ErrNotImplemented }

// SetRlimits applies rlimits to the calling process.
func SetRlimits(rl []specs.POSIXRlimit) error { return errdefs.ErrNotImplemented }

// SetOOMScoreAdj writes v to /proc/<pid>/oom_score_adj (pid 0: self); nil v is a no-op.
func SetOOMScoreAdj(pid int, v *int) error { return errdefs.ErrNotImplemented }

// SetPersonality applies the execution domain; nil is a no-op.
func SetPersonality(p *specs.LinuxPersonality) error { return errdefs.ErrNotImplemented }

// SetIOPriority sets the calling thread's I/O priority; nil is a no-op.
func SetIOPriority(p *specs.LinuxIOPriority) error { return errdefs.ErrNotImplemented }

// SetScheduler applies sched_setattr to the calling thread; nil is a no-op.
func SetScheduler(s *specs.Scheduler) error { return errdefs.ErrNotImplemented }

// SetUmask sets the umask; nil is a no-op.
func SetUmask(m *uint32) error { return errdefs.ErrNotImplemented }

// ResolveUser resolves exec's --user value ("name", "uid", "name:group",
// "uid:gid") against rootfs/etc/passwd and /etc/group, read inside the root.
func ResolveUser(rootfs string, spec string) (specs.User, error) {
	return specs.User{}, errdefs.ErrNotImplemented
}

// SwitchUser sets supplementary groups, gid and uid of the calling process,
// keeping capabilities (PR_SET_KEEPCAPS) so capabilities can be applied after.
func SwitchUser(u specs.User) error { return errdefs.ErrNotImplemented }

// OpenProc opens path (which must be under /proc) and verifies the file is
// on procfs, so a bind mount over /proc cannot redirect the write.
func OpenProc(path string, flags int) (*os.File, error) { return nil, errdefs.ErrNotImplemented }
