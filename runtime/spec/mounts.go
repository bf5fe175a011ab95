package spec

import (
	"fmt"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// MountOptions is a mounts[].options list split by meaning.
type MountOptions struct {
	// Flags are set, ClearFlags cleared, in the mount(2) flags.
	Flags, ClearFlags uintptr
	// Propagation holds the propagation changes in the order given
	// (MS_SHARED, MS_SLAVE|MS_REC, ...), applied after the mount.
	Propagation []uintptr
	// Bind is set by "bind" or "rbind"; Recursive by "rbind".
	Bind, Recursive bool
	// RecAttrSet / RecAttrClr are MOUNT_ATTR_* bits applied recursively with
	// mount_setattr(AT_RECURSIVE) ("rro", "rnosuid", "rrw", ...).
	RecAttrSet, RecAttrClr uint64
	// RecPropagation: a recursive atime mode from "rnoatime" etc.
	RecAtime    uint64
	RecAtimeSet bool
	// IDMap is set by "idmap" or "ridmap"; RecursiveIDMap by "ridmap".
	IDMap, RecursiveIDMap bool
	// TmpCopyUp copies the target's previous content into a new tmpfs.
	TmpCopyUp bool
	// Data are the filesystem-specific options, comma-joined for mount(2).
	Data []string
}

// DataString returns the data argument for mount(2).
func (o MountOptions) DataString() string { return strings.Join(o.Data, ",") }

type flagOpt struct {
	clear bool
	flag  uintptr
}

var mountFlagOpts = map[string]flagOpt{
	"async":         {true, unix.MS_SYNCHRONOUS},
	"atime":         {true, unix.MS_NOATIME},
	"defaults":      {false, 0},
	"dev":           {true, unix.MS_NODEV},
	"diratime":      {true, unix.MS_NODIRATIME},
	"dirsync":       {false, unix.MS_DIRSYNC},
	"exec":          {true, unix.MS_NOEXEC},
	"iversion":      {false, unix.MS_I_VERSION},
	"lazytime":      {false, unix.MS_LAZYTIME},
	"loud":          {true, unix.MS_SILENT},
	"mand":          {false, unix.MS_MANDLOCK},
	"noatime":       {false, unix.MS_NOATIME},
	"nodev":         {false, unix.MS_NODEV},
	"nodiratime":    {false, unix.MS_NODIRATIME},
	"noexec":        {false, unix.MS_NOEXEC},
	"noiversion":    {true, unix.MS_I_VERSION},
	"nolazytime":    {true, unix.MS_LAZYTIME},
	"nomand":        {true, unix.MS_MANDLOCK},
	"norelatime":    {true, unix.MS_RELATIME},
	"nostrictatime": {true, unix.MS_STRICTATIME},
	"nosuid":        {false, unix.MS_NOSUID},
	"nosymfollow":   {false, 0x100}, // MS_NOSYMFOLLOW
	"relatime":      {false, unix.MS_RELATIME},
	"remount":       {false, unix.MS_REMOUNT},
	"ro":            {false, unix.MS_RDONLY},
	"rw":            {true, unix.MS_RDONLY},
	"silent":        {false, unix.MS_SILENT},
	"strictatime":   {false, unix.MS_STRICTATIME},
	"suid":          {true, unix.MS_NOSUID},
	"symfollow":     {true, 0x100},
	"sync":          {false, unix.MS_SYNCHRONOUS},
}

var propagationOpts = map[string]uintptr{
	"private":     unix.MS_PRIVATE,
	"rprivate":    unix.MS_PRIVATE | unix.MS_REC,
	"shared":      unix.MS_SHARED,
	"rshared":     unix.MS_SHARED | unix.MS_REC,
	"slave":       unix.MS_SLAVE,
	"rslave":      unix.MS_SLAVE | unix.MS_REC,
	"unbindable":  unix.MS_UNBINDABLE,
	"runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// PropagationFlags returns the mount(2) flags of a propagation name
// ("rslave"), as used by linux.rootfsPropagation.
func PropagationFlags(name string) (uintptr, bool) {
	f, ok := propagationOpts[name]
	return f, ok
}

type recOpt struct {
	clear bool
	attr  uint64
}

var recAttrOpts = map[string]recOpt{
	"rro":          {false, unix.MOUNT_ATTR_RDONLY},
	"rrw":          {true, unix.MOUNT_ATTR_RDONLY},
	"rnosuid":      {false, unix.MOUNT_ATTR_NOSUID},
	"rsuid":        {true, unix.MOUNT_ATTR_NOSUID},
	"rnodev":       {false, unix.MOUNT_ATTR_NODEV},
	"rdev":         {true, unix.MOUNT_ATTR_NODEV},
	"rnoexec":      {false, unix.MOUNT_ATTR_NOEXEC},
	"rexec":        {true, unix.MOUNT_ATTR_NOEXEC},
	"rnodiratime":  {false, unix.MOUNT_ATTR_NODIRATIME},
	"rdiratime":    {true, unix.MOUNT_ATTR_NODIRATIME},
	"rnosymfollow": {false, unix.MOUNT_ATTR_NOSYMFOLLOW},
	"rsymfollow":   {true, unix.MOUNT_ATTR_NOSYMFOLLOW},
}

var recAtimeOpts = map[string]uint64{
	"rrelatime":      unix.MOUNT_ATTR_RELATIME,
	"rnorelatime":    unix.MOUNT_ATTR_STRICTATIME, // clearing relatime: back to strict
	"rnoatime":       unix.MOUNT_ATTR_NOATIME,
	"ratime":         unix.MOUNT_ATTR_RELATIME,
	"rstrictatime":   unix.MOUNT_ATTR_STRICTATIME,
	"rnostrictatime": unix.MOUNT_ATTR_RELATIME,
}

// ParseMountOptions splits a mounts[].options list. Unknown options are
// filesystem data, as the runtime-spec says; it never fails on them.
func ParseMountOptions(opts []string) MountOptions {
	var o MountOptions
	for _, opt := range opts {
		if f, ok := mountFlagOpts[opt]; ok {
			if f.clear {
				o.Flags &^= f.flag
				o.ClearFlags |= f.flag
			} else {
				o.Flags |= f.flag
				o.ClearFlags &^= f.flag
			}
			continue
		}
		if p, ok := propagationOpts[opt]; ok {
			o.Propagation = append(o.Propagation, p)
			continue
		}
		if r, ok := recAttrOpts[opt]; ok {
			if r.clear {
				o.RecAttrSet &^= r.attr
				o.RecAttrClr |= r.attr
			} else {
				o.RecAttrSet |= r.attr
				o.RecAttrClr &^= r.attr
			}
			continue
		}
		if a, ok := recAtimeOpts[opt]; ok {
			o.RecAtime, o.RecAtimeSet = a, true
			continue
		}
		switch opt {
		case "bind":
			o.Bind = true
		case "rbind":
			o.Bind, o.Recursive = true, true
		case "idmap":
			o.IDMap = true
		case "ridmap":
			o.IDMap, o.RecursiveIDMap = true, true
		case "tmpcopyup":
			o.TmpCopyUp = true
		case "":
		default:
			o.Data = append(o.Data, opt)
		}
	}
	return o
}

// IsBind reports whether m is a bind mount (by options or type "bind").
func IsBind(m specs.Mount) bool {
	if m.Type == "bind" {
		return true
	}
	for _, o := range m.Options {
		if o == "bind" || o == "rbind" {
			return true
		}
	}
	return false
}

func validateMounts(s *specs.Spec) error {
	userns := false
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == specs.UserNamespace {
			userns = true
		}
	}
	for i, m := range s.Mounts {
		f := fmt.Sprintf("mounts[%d]", i)
		if m.Destination == "" {
			return bad(f+".destination", "missing")
		}
		if strings.ContainsRune(m.Destination, 0) || strings.ContainsRune(m.Source, 0) {
			return bad(f, "NUL byte in source or destination")
		}
		if filepath.Clean("/"+m.Destination) == "/" {
			return bad(f+".destination", "%q: mounting over the container's root is not allowed", m.Destination)
		}
		o := ParseMountOptions(m.Options)
		bind := IsBind(m)
		if bind && m.Source == "" {
			return bad(f+".source", "a bind mount needs a source")
		}
		if !bind && m.Type == "" && o.Flags&unix.MS_REMOUNT == 0 {
			return bad(f+".type", "missing (a non-bind mount needs a filesystem type)")
		}
		if (len(m.UIDMappings) == 0) != (len(m.GIDMappings) == 0) {
			return bad(f, "uidMappings and gidMappings must be given together")
		}
		if len(m.UIDMappings) > 0 || o.IDMap {
			if !bind {
				return bad(f, "an idmapped mount must be a bind mount")
			}
			if len(m.UIDMappings) == 0 && !userns {
				return bad(f+".options", "idmap without uidMappings/gidMappings needs a user namespace")
			}
			if err := validateIDMappings(m.UIDMappings, f+".uidMappings"); err != nil {
				return err
			}
			if err := validateIDMappings(m.GIDMappings, f+".gidMappings"); err != nil {
				return err
			}
		}
		if o.TmpCopyUp && m.Type != "tmpfs" {
			return bad(f+".options", "tmpcopyup applies only to tmpfs mounts")
		}
	}
	return nil
}
