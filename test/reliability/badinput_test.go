package reliability

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestBadFlagValuesChangeNothing: each bad value gets a non-zero exit and an
// error naming the value, and leaves the container list, the daemon's
// directories and the host as they were.
func TestBadFlagValuesChangeNothing(t *testing.T) {
	d := startDaemon(t)
	d.LoadBusybox()
	taken := strings.TrimSpace(d.Berth("create", "--name", "taken", "--network", "none", "busybox", "true"))
	listBefore := d.Berth("ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}} {{.State}}")
	filesBefore := files(d, t)
	snapsBefore := snapshots(d)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "-p", "70000:80", "busybox", "true"}, "70000"},
		{[]string{"run", "-d", "-p", "8080:80/sctp2", "busybox", "true"}, "sctp2"},
		{[]string{"run", "--memory=-1", "busybox", "true"}, "-1"},
		{[]string{"run", "--memory", "12zb", "busybox", "true"}, "12zb"},
		{[]string{"run", "--pids-limit", "many", "busybox", "true"}, "many"},
		{[]string{"run", "--cpus", "-2", "busybox", "true"}, "-2"},
		{[]string{"run", "--cpus", "lots", "busybox", "true"}, "lots"},
		{[]string{"run", "--restart", "sometimes", "busybox", "true"}, "sometimes"},
		{[]string{"run", "--network", "none", "127.0.0.1:1/no/such-image:latest", "true"}, "127.0.0.1:1/no/such-image"},
		{[]string{"run", "--network", "nosuchnet", "busybox", "true"}, "nosuchnet"},
		{[]string{"run", "-d", "--runtime", "nosuch", "--network", "none", "busybox", "true"}, "nosuch"},
		{[]string{"run", "--name", "taken", "--network", "none", "busybox", "true"}, `"/taken" is already in use`},
		{[]string{"create", "--name", "taken", "--network", "none", "busybox", "true"}, "taken"},
		{[]string{"run", "--name", "bad/name", "--network", "none", "busybox", "true"}, "bad/name"},
		{[]string{"run", "--ulimit", "nofile=abc", "--network", "none", "busybox", "true"}, "abc"},
		{[]string{"run", "--cap-add", "CAP_NOPE", "--network", "none", "busybox", "true"}, "NOPE"},
		{[]string{"run", "-v", "relative/path:/data", "--network", "none", "busybox", "true"}, "relative/path"},
		{[]string{"exec", "taken", "true"}, "is not running"},
		{[]string{"exec", "nosuchcontainer", "true"}, "nosuchcontainer"},
		{[]string{"stop", "nosuchcontainer"}, "nosuchcontainer"},
		{[]string{"start", "nosuchcontainer"}, "No such container: nosuchcontainer"},
	} {
		code, _, errOut := d.ExitCode(tc.args...)
		if code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("berth %s: exit %d, stderr %q; want a non-zero exit and an error naming %q", strings.Join(tc.args, " "), code, errOut, tc.want)
		}
		if got := d.Berth("ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}} {{.State}}"); got != listBefore {
			t.Errorf("berth %s (stderr %q) changed the container list:\nbefore:\n%s\nafter:\n%s", strings.Join(tc.args, " "), errOut, listBefore, got)
		}
	}
	if got := d.Berth("ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}} {{.State}}"); got != listBefore {
		t.Errorf("container list changed:\nbefore:\n%s\nafter:\n%s", listBefore, got)
	}
	if got := snapshots(d); !slices.Equal(got, snapsBefore) {
		t.Errorf("snapshots changed: before %v, after %v", snapsBefore, got)
	}
	filesAfter := files(d, t)
	var added, removed []string
	for _, f := range filesAfter {
		if !slices.Contains(filesBefore, f) {
			added = append(added, f)
		}
	}
	for _, f := range filesBefore {
		if !slices.Contains(filesAfter, f) {
			removed = append(removed, f)
		}
	}
	if len(added)+len(removed) > 0 {
		t.Errorf("the daemon's directories changed: added %v, removed %v", added, removed)
	}
	d.Berth("rm", "taken")
	requireNoLeaks(d, t, taken)
}

// files lists every path under the daemon's root and state directories,
// except the metadata database's own files (its content changes; its paths
// do not).
func files(d *daemon, t *testing.T) []string {
	t.Helper()
	var out []string
	for _, top := range []string{d.Root, d.State} {
		err := filepath.WalkDir(top, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				if os.IsNotExist(err) {
					return nil
				}
				return err
			}
			out = append(out, p)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(out)
	return out
}
