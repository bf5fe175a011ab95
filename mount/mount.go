package mount

import (
	"fmt"
	"strings"
)

// Mount is one filesystem mount: Type as for mount(8) ("overlay", "bind",
// "tmpfs", …), Source, and Options in mount(8) form ("ro", "bind",
// "lowerdir=/a:/b", "upperdir=…").
type Mount struct {
	Type    string
	Source  string
	Options []string
}

// String renders the mount for logs and error messages.
func (m Mount) String() string {
	return fmt.Sprintf("%s %s (%s)", m.Type, m.Source, strings.Join(m.Options, ","))
}

// ReadOnly reports whether the mount carries the "ro" option.
func (m Mount) ReadOnly() bool {
	for _, o := range m.Options {
		if o == "ro" {
			return true
		}
	}
	return false
}

// UpperDir returns the overlay upperdir option, if any.
func (m Mount) UpperDir() string { return m.option("upperdir") }

// LowerDirs returns the overlay lowerdir list (top first), if any.
func (m Mount) LowerDirs() []string {
	v := m.option("lowerdir")
	if v == "" {
		return nil
	}
	return strings.Split(v, ":")
}

func (m Mount) option(name string) string {
	p := name + "="
	for _, o := range m.Options {
		if strings.HasPrefix(o, p) {
			return o[len(p):]
		}
	}
	return ""
}
