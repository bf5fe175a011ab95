package linuxproc

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/internal/errdefs"
)

// passwdEntry and groupEntry are the fields of /etc/passwd and /etc/group
// that user resolution needs.
type passwdEntry struct {
	name     string
	uid, gid uint32
}

type groupEntry struct {
	name    string
	gid     uint32
	members []string
}

// maxDBSize bounds how much of /etc/passwd or /etc/group is read.
const maxDBSize = 4 << 20

func parsePasswd(r io.Reader) ([]passwdEntry, error) {
	var out []passwdEntry
	sc := bufio.NewScanner(io.LimitReader(r, maxDBSize))
	sc.Buffer(make([]byte, 4096), 64<<10)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) < 4 {
			continue
		}
		uid, err1 := strconv.ParseUint(f[2], 10, 32)
		gid, err2 := strconv.ParseUint(f[3], 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, passwdEntry{name: f[0], uid: uint32(uid), gid: uint32(gid)})
	}
	return out, sc.Err()
}

func parseGroup(r io.Reader) ([]groupEntry, error) {
	var out []groupEntry
	sc := bufio.NewScanner(io.LimitReader(r, maxDBSize))
	sc.Buffer(make([]byte, 4096), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) < 3 {
			continue
		}
		gid, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			continue
		}
		g := groupEntry{name: f[0], gid: uint32(gid)}
		if len(f) > 3 && f[3] != "" {
			g.members = strings.Split(f[3], ",")
		}
		out = append(out, g)
	}
	return out, sc.Err()
}

// openInRoot opens a file of the container's root for reading, resolving
// symlinks inside the root only.
func openInRoot(rootfs, p string) (*os.File, error) {
	dirfd, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(dirfd)
	how := unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOCTTY | unix.O_NONBLOCK,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	fd, err := unix.Openat2(dirfd, strings.TrimPrefix(p, "/"), &how)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	f := os.NewFile(uintptr(fd), p)
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: not a regular file", p)
	}
	return f, nil
}

func readPasswd(rootfs string) ([]passwdEntry, error) {
	f, err := openInRoot(rootfs, "/etc/passwd")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parsePasswd(f)
}

func readGroup(rootfs string) ([]groupEntry, error) {
	f, err := openInRoot(rootfs, "/etc/group")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseGroup(f)
}

// ResolveUser resolves exec's --user value ("name", "uid", "name:group",
// "uid:gid", "name:gid", "uid:group") against the container's /etc/passwd
// and /etc/group, both read inside rootfs (symlinks cannot lead out of it).
// A numeric uid absent from /etc/passwd is allowed, with gid 0 unless given.
// A user found by name gets the groups /etc/group lists it in as
// AdditionalGids.
func ResolveUser(rootfs string, userSpec string) (specs.User, error) {
	if userSpec == "" {
		return specs.User{}, fmt.Errorf("user: empty: %w", errdefs.ErrInvalidArgument)
	}
	userPart, groupPart, hasGroup := strings.Cut(userSpec, ":")
	if userPart == "" || (hasGroup && groupPart == "") {
		return specs.User{}, fmt.Errorf("user %q: must be name|uid[:group|gid]: %w", userSpec, errdefs.ErrInvalidArgument)
	}
	var u specs.User
	name := ""
	uid, uidErr := strconv.ParseUint(userPart, 10, 32)
	passwd, perr := readPasswd(rootfs)
	var found *passwdEntry
	if perr == nil {
		for i := range passwd {
			e := &passwd[i]
			if (uidErr == nil && e.uid == uint32(uid)) || (uidErr != nil && e.name == userPart) {
				found = e
				break
			}
		}
	}
	switch {
	case found != nil:
		u.UID, u.GID, name = found.uid, found.gid, found.name
	case uidErr == nil:
		u.UID = uint32(uid)
	default:
		why := "no such user in /etc/passwd"
		if perr != nil {
			why = fmt.Sprintf("cannot read /etc/passwd: %v", perr)
		}
		return specs.User{}, fmt.Errorf("user %q: %s: %w", userPart, why, errdefs.ErrNotFound)
	}
	groups, gerr := readGroup(rootfs)
	if hasGroup {
		gid, err := strconv.ParseUint(groupPart, 10, 32)
		if err == nil {
			u.GID = uint32(gid)
		} else {
			ok := false
			if gerr == nil {
				for _, g := range groups {
					if g.name == groupPart {
						u.GID, ok = g.gid, true
						break
					}
				}
			}
			if !ok {
				return specs.User{}, fmt.Errorf("group %q: no such group in /etc/group: %w", groupPart, errdefs.ErrNotFound)
			}
		}
	}
	if name != "" && gerr == nil {
		seen := map[uint32]bool{u.GID: true}
		for _, g := range groups {
			for _, m := range g.members {
				if m == name && !seen[g.gid] {
					seen[g.gid] = true
					u.AdditionalGids = append(u.AdditionalGids, g.gid)
				}
			}
		}
	}
	return u, nil
}
