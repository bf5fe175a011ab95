package cgroups

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/berth-containers/berth/internal/errdefs"
)

// DefaultParent is the parent cgroup of containers whose spec has no
// linux.cgroupsPath.
const DefaultParent = "/berth"

// CleanPath turns linux.cgroupsPath into the cgroup path used inside every
// hierarchy: "" → /berth/<id>; "/a/b" and "a/b" → /a/b. A relative path is
// taken relative to the hierarchy root, as runc does (the runtime-spec lets the
// runtime choose the base of a relative path; Berth's containers then land in
// the same place whichever cgroup the runtime itself runs in). A path that
// climbs above the root with "..", contains NUL, or names the root itself is
// rejected.
func CleanPath(p, id string) (string, error) {
	if p == "" {
		if id == "" || strings.ContainsAny(id, "/\x00") || id == "." || id == ".." {
			return "", fmt.Errorf("linux.cgroupsPath: empty and container id %q cannot name a cgroup: %w", id, errdefs.ErrInvalidArgument)
		}
		return DefaultParent + "/" + id, nil
	}
	if strings.ContainsRune(p, 0) {
		return "", fmt.Errorf("linux.cgroupsPath %q: contains NUL: %w", p, errdefs.ErrInvalidArgument)
	}
	depth := 0
	for _, e := range strings.Split(p, "/") {
		switch e {
		case "", ".":
		case "..":
			depth--
			if depth < 0 {
				return "", fmt.Errorf("linux.cgroupsPath %q: climbs above the cgroup root with \"..\": %w", p, errdefs.ErrInvalidArgument)
			}
		default:
			depth++
		}
	}
	c := path.Clean("/" + p)
	if c == "/" {
		return "", fmt.Errorf("linux.cgroupsPath %q: names the cgroup root itself: %w", p, errdefs.ErrInvalidArgument)
	}
	return c, nil
}

// v1Names maps directory-name parts under the root to controller names.
var v1Special = map[string]string{"systemd": "name=systemd"}

var (
	discoverMu    sync.Mutex
	discoverCache = map[string]map[string]string{}
)

// discoverV1 maps every v1 controller mounted under root to its hierarchy
// directory, from one readdir of root. A directory counts as a hierarchy when it
// has cgroup.procs; "a,b" co-mounts give both a and b. The result is cached
// for the life of the process.
func discoverV1(root string) (map[string]string, error) {
	discoverMu.Lock()
	defer discoverMu.Unlock()
	if h, ok := discoverCache[root]; ok {
		return h, nil
	}
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("cgroups: list hierarchies under %s: %w", root, err)
	}
	h := map[string]string{}
	for _, e := range ents {
		name := e.Name()
		if name == "unified" || e.Type()&os.ModeSymlink != 0 {
			continue
		}
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(root, name)
		if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err != nil {
			continue
		}
		for _, c := range strings.Split(name, ",") {
			if s, ok := v1Special[c]; ok {
				c = s
			}
			if c != "" {
				h[c] = dir
			}
		}
	}
	if len(h) == 0 {
		return nil, fmt.Errorf("cgroups: no cgroup v1 hierarchy and no cgroup2 under %s: %w", root, errdefs.ErrUnavailable)
	}
	discoverCache[root] = h
	return h, nil
}

// ProcCgroup is one line of /proc/<pid>/cgroup.
type ProcCgroup struct {
	ID          int
	Controllers []string // empty for the cgroup2 line; "name=systemd" kept as is
	Path        string
}

// ParseProcCgroup parses the contents of /proc/<pid>/cgroup
// ("hierarchy-ID:controller-list:cgroup-path" per line).
func ParseProcCgroup(data []byte) ([]ProcCgroup, error) {
	var out []ProcCgroup
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" {
			continue
		}
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			return nil, fmt.Errorf("cgroup file line %d %q: want id:controllers:path: %w", n, line, errdefs.ErrInvalidArgument)
		}
		var id int
		if _, err := fmt.Sscanf(parts[0], "%d", &id); err != nil || id < 0 || fmt.Sprint(id) != parts[0] {
			return nil, fmt.Errorf("cgroup file line %d: hierarchy id %q: %w", n, parts[0], errdefs.ErrInvalidArgument)
		}
		if !strings.HasPrefix(parts[2], "/") {
			return nil, fmt.Errorf("cgroup file line %d: path %q is not absolute: %w", n, parts[2], errdefs.ErrInvalidArgument)
		}
		pc := ProcCgroup{ID: id, Path: parts[2]}
		if parts[1] != "" {
			pc.Controllers = strings.Split(parts[1], ",")
		}
		out = append(out, pc)
	}
	return out, sc.Err()
}

// ProcessCgroups reads /proc/<pid>/cgroup and maps each controller (and
// "unified" for the cgroup2 line) to the process's cgroup path.
func ProcessCgroups(pid int) (map[string]string, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return nil, err
	}
	lines, err := ParseProcCgroup(data)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, l := range lines {
		if l.ID == 0 && len(l.Controllers) == 0 {
			m[Unified] = l.Path
			continue
		}
		for _, c := range l.Controllers {
			m[c] = l.Path
		}
	}
	return m, nil
}
