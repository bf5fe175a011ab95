package oci

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-containers/berth/internal/errdefs"
)

// ResolvedUser is a --user resolved in a container's root.
type ResolvedUser struct {
	specs.User
	Home string // from /etc/passwd, "/" when unknown
}

// ResolveUser resolves user ("", "uid", "uid:gid", "name", "name:group")
// against rootfs/etc/passwd and rootfs/etc/group, read with every path
// component resolved inside rootfs (a symlink in the image cannot make it
// read a host file). Numeric ids without an entry are allowed (gid 0 when
// none is known); an unknown name is docker's "unable to find user foo: no
// matching entries in passwd file". additionalGids holds the primary gid,
// the groups naming the user as a member, and the groups in groupAdd
// (names or ids).
func ResolveUser(rootfs, user string, groupAdd []string) (ResolvedUser, error) {
	us, err := ParseUser(user)
	if err != nil {
		return ResolvedUser{}, err
	}
	if us.User == "" {
		us.User = "0"
	}
	var passwd, group []byte
	if rootfs != "" {
		root, err := os.OpenRoot(rootfs)
		if err != nil {
			return ResolvedUser{}, fmt.Errorf("rootfs %s: %w", rootfs, err)
		}
		defer root.Close()
		if passwd, err = readInRoot(root, "etc/passwd"); err != nil {
			return ResolvedUser{}, err
		}
		if group, err = readInRoot(root, "etc/group"); err != nil {
			return ResolvedUser{}, err
		}
	}
	out := ResolvedUser{Home: "/"}
	var name string
	found := false
	for _, f := range colonFile(passwd, 7) {
		uid, err1 := strconv.ParseUint(f[2], 10, 32)
		gid, err2 := strconv.ParseUint(f[3], 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		if (isNumeric(us.User) && uid == mustUint(us.User)) || (!isNumeric(us.User) && f[0] == us.User) {
			name, found = f[0], true
			out.UID, out.GID = uint32(uid), uint32(gid)
			if f[5] != "" {
				out.Home = f[5]
			}
			break
		}
	}
	if !found {
		if !isNumeric(us.User) {
			return ResolvedUser{}, fmt.Errorf("%s: unable to find user %s: no matching entries in passwd file: %w", FlagUser, us.User, errdefs.ErrInvalidArgument)
		}
		out.UID, out.GID = uint32(mustUint(us.User)), 0
	}
	groups := colonFile(group, 4)
	lookupGroup := func(g string) (uint32, error) {
		for _, f := range groups {
			if (!isNumeric(g) && f[0] == g) || (isNumeric(g) && isNumeric(f[2]) && mustUint(f[2]) == mustUint(g)) {
				if id, err := strconv.ParseUint(f[2], 10, 32); err == nil {
					return uint32(id), nil
				}
			}
		}
		if isNumeric(g) {
			return uint32(mustUint(g)), nil
		}
		return 0, fmt.Errorf("unable to find group %s: no matching entries in group file: %w", g, errdefs.ErrInvalidArgument)
	}
	if us.Group != "" {
		gid, err := lookupGroup(us.Group)
		if err != nil {
			return ResolvedUser{}, fmt.Errorf("%s: %w", FlagUser, err)
		}
		out.GID = gid
	}
	add := []uint32{out.GID}
	seen := map[uint32]bool{out.GID: true}
	if name != "" && us.Group == "" {
		for _, f := range groups {
			for _, m := range strings.Split(f[3], ",") {
				if m == name {
					if id, err := strconv.ParseUint(f[2], 10, 32); err == nil && !seen[uint32(id)] {
						seen[uint32(id)] = true
						add = append(add, uint32(id))
					}
				}
			}
		}
	}
	for _, g := range groupAdd {
		gid, err := lookupGroup(g)
		if err != nil {
			return ResolvedUser{}, fmt.Errorf("--group-add: %w", err)
		}
		if !seen[gid] {
			seen[gid] = true
			add = append(add, gid)
		}
	}
	out.AdditionalGids = add
	return out, nil
}

func mustUint(s string) uint64 {
	v, _ := strconv.ParseUint(s, 10, 32)
	return v
}

// readInRoot reads a small file inside root; a missing file reads empty.
func readInRoot(root *os.Root, name string) ([]byte, error) {
	f, err := root.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read /%s in the container: %w", name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("read /%s in the container: not a regular file", name)
	}
	return io.ReadAll(io.LimitReader(f, 8<<20))
}

// colonFile splits passwd/group lines into at least n fields.
func colonFile(data []byte, n int) [][]string {
	var out [][]string
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		for len(f) < n {
			f = append(f, "")
		}
		out = append(out, f)
	}
	return out
}
