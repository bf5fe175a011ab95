package testimage

import (
	"fmt"
	"os"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// BusyboxStatic is where Debian's busybox-static installs its binary.
const BusyboxStatic = "/bin/busybox"

// BusyboxApplets are linked to busybox in /bin of the image.
var BusyboxApplets = []string{
	"sh", "true", "false", "echo", "cat", "ls", "sleep", "id", "env", "pwd", "hostname",
	"mount", "ps", "kill", "grep", "head", "tail", "wc", "touch", "mkdir", "rm", "ln",
	"stat", "readlink", "test", "uname", "date", "wget", "nc", "httpd", "printf", "cp", "mv",
	"chmod", "chown", "dd", "top", "nproc", "ulimit", "umask", "whoami", "seq", "sed", "awk",
}

// Busybox builds a one-layer image from Debian's busybox-static: /bin/busybox,
// applet symlinks, /etc/passwd, group and hosts, and the usual empty
// directories (the same tree as internal/testutil.MakeBusyboxRootfs). Its
// config runs "sh" with a standard PATH. A missing busybox-static is an error
// that names the Debian package.
func Busybox(o Options) (*Image, error) {
	data, err := os.ReadFile(BusyboxStatic)
	if err != nil {
		return nil, fmt.Errorf("read %s (install Debian's busybox-static): %w", BusyboxStatic, err)
	}
	return assemble([][]entry{busyboxEntries(data)}, o, ocispec.ImageConfig{
		Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		Cmd:        []string{"sh"},
		WorkingDir: "/",
	}, "busybox")
}

func busyboxEntries(bb []byte) []entry {
	var es []entry
	for _, d := range []string{"bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "root", "var", "run", "home"} {
		es = append(es, dirEntry(d, 0o755))
	}
	es = append(es, dirEntry("tmp", 0o1777))
	es = append(es, fileEntry("bin/busybox", 0o755, bb))
	for _, a := range BusyboxApplets {
		es = append(es, symlinkEntry("bin/"+a, "busybox"))
	}
	es = append(es,
		fileEntry("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")),
		fileEntry("etc/group", 0o644, []byte("root:x:0:\ntty:x:5:\nnogroup:x:65534:\n")),
		fileEntry("etc/hosts", 0o644, []byte("127.0.0.1 localhost\n")),
	)
	return sortedEntries(es)
}
