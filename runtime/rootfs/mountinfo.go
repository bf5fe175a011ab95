package rootfs

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// mountInfo is one line of /proc/self/mountinfo.
type mountInfo struct {
	ID, Parent int
	Root       string // root of the mount within its filesystem
	Mountpoint string
	Options    string // per-mount options
	Optional   []string
	FSType     string
	Source     string
	SuperOpts  string
}

// unescape decodes mountinfo's octal escapes (\040 for space, ...).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func parseMountInfo(rd io.Reader) ([]mountInfo, error) {
	var out []mountInfo
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if len(f) < 10 || sep < 0 || sep+3 > len(f) {
			return nil, fmt.Errorf("mountinfo: malformed line %q", sc.Text())
		}
		id, err1 := strconv.Atoi(f[0])
		parent, err2 := strconv.Atoi(f[1])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("mountinfo: malformed line %q", sc.Text())
		}
		m := mountInfo{
			ID: id, Parent: parent, Root: unescape(f[3]), Mountpoint: unescape(f[4]),
			Options: f[5], Optional: f[6:sep], FSType: f[sep+1], Source: unescape(f[sep+2]),
		}
		if sep+3 < len(f) {
			m.SuperOpts = f[sep+3]
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

func readMountInfo() ([]mountInfo, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseMountInfo(f)
}

// mountOf returns the mount whose mountpoint is the longest prefix of p.
func mountOf(mounts []mountInfo, p string) (mountInfo, bool) {
	var best mountInfo
	found := false
	for _, m := range mounts {
		mp := m.Mountpoint
		if p == mp || mp == "/" || strings.HasPrefix(p, mp+"/") {
			if !found || len(mp) >= len(best.Mountpoint) {
				best, found = m, true
			}
		}
	}
	return best, found
}
