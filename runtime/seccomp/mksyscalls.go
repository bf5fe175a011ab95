//go:build ignore

// mksyscalls generates zsyscalls.go, Berth's syscall name → number tables,
// from the kernel's UAPI headers installed by Debian's linux-libc-dev:
// asm/unistd_64.h (x86_64), asm/unistd_32.h (x86), asm/unistd_x32.h (x32)
// and asm-generic/unistd.h evaluated for aarch64 with the C preprocessor.
// Syscalls newer than the installed headers (the unified numbers 451+,
// identical on every architecture) are appended from a short list below.
//
// Run: go generate ./runtime/seccomp
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"go/format"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

const x86inc = "/usr/include/x86_64-linux-gnu/asm/"

// newer lists syscalls added after the headers this was generated from,
// with the architectures (of ours) that have them. Since Linux 5.1 new
// syscalls share one number on every architecture (x32 adds its bit).
var newer = []struct {
	name   string
	nr     uint32
	arches string
}{
	{"cachestat", 451, "x86_64 x86 x32 aarch64"},
	{"fchmodat2", 452, "x86_64 x86 x32 aarch64"},
	{"map_shadow_stack", 453, "x86_64 aarch64"},
	{"futex_wake", 454, "x86_64 x86 x32 aarch64"},
	{"futex_wait", 455, "x86_64 x86 x32 aarch64"},
	{"futex_requeue", 456, "x86_64 x86 x32 aarch64"},
	{"statmount", 457, "x86_64 x86 x32 aarch64"},
	{"listmount", 458, "x86_64 x86 x32 aarch64"},
	{"lsm_get_self_attr", 459, "x86_64 x86 x32 aarch64"},
	{"lsm_set_self_attr", 460, "x86_64 x86 x32 aarch64"},
	{"lsm_list_modules", 461, "x86_64 x86 x32 aarch64"},
	{"mseal", 462, "x86_64 x86 x32 aarch64"},
	{"setxattrat", 463, "x86_64 x86 x32 aarch64"},
	{"getxattrat", 464, "x86_64 x86 x32 aarch64"},
	{"listxattrat", 465, "x86_64 x86 x32 aarch64"},
	{"removexattrat", 466, "x86_64 x86 x32 aarch64"},
	{"open_tree_attr", 467, "x86_64 x86 x32 aarch64"},
	{"file_getattr", 468, "x86_64 x86 x32 aarch64"},
	{"file_setattr", 469, "x86_64 x86 x32 aarch64"},
	{"listns", 470, "x86_64 x86 x32 aarch64"},
}

const x32Bit = 0x40000000

var defineRe = regexp.MustCompile(`^#define\s+(\w+)\s+(.+?)\s*$`)

// macros reads #define lines; text is header text or cpp -dM output.
func macros(text []byte) map[string]string {
	m := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(text))
	for sc.Scan() {
		if g := defineRe.FindStringSubmatch(sc.Text()); g != nil {
			m[g[1]] = g[2]
		}
	}
	return m
}

// eval evaluates the tiny expression language of the headers: integers,
// macro names, parentheses and +.
func eval(m map[string]string, expr string, depth int) (uint32, error) {
	if depth > 20 {
		return 0, fmt.Errorf("%q: too deep", expr)
	}
	expr = strings.TrimSpace(expr)
	for strings.HasPrefix(expr, "(") && strings.HasSuffix(expr, ")") {
		expr = strings.TrimSpace(expr[1 : len(expr)-1])
	}
	if a, b, ok := strings.Cut(expr, "+"); ok {
		x, err := eval(m, a, depth+1)
		if err != nil {
			return 0, err
		}
		y, err := eval(m, b, depth+1)
		return x + y, err
	}
	if n, err := strconv.ParseUint(expr, 0, 32); err == nil {
		return uint32(n), nil
	}
	if v, ok := m[expr]; ok {
		return eval(m, v, depth+1)
	}
	return 0, fmt.Errorf("cannot evaluate %q", expr)
}

func table(m map[string]string) (map[string]uint32, error) {
	t := map[string]uint32{}
	for k, v := range m {
		name, ok := strings.CutPrefix(k, "__NR_")
		if !ok || name == "syscalls" || name == "arch_specific_syscall" {
			continue
		}
		n, err := eval(m, v, 0)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		t[name] = n
	}
	return t, nil
}

func header(path string, extra map[string]string) (map[string]uint32, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := macros(b)
	for k, v := range extra {
		m[k] = v
	}
	return table(m)
}

// aarch64 evaluates asm-generic/unistd.h as arm64's asm/unistd.h does.
func aarch64() (map[string]uint32, error) {
	// asm-generic/unistd.h includes asm/bitsperlong.h; __BITS_PER_LONG is
	// given on the command line instead, so an empty stub will do.
	inc, err := os.MkdirTemp("", "mksyscalls")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(inc)
	if err := os.Mkdir(inc+"/asm", 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(inc+"/asm/bitsperlong.h", nil, 0o644); err != nil {
		return nil, err
	}
	args := []string{"-dM", "-undef", "-nostdinc", "-I", inc, "-D__BITS_PER_LONG=64",
		"-D__ARCH_WANT_RENAMEAT", "-D__ARCH_WANT_NEW_STAT", "-D__ARCH_WANT_SET_GET_RLIMIT",
		"-D__ARCH_WANT_TIME32_SYSCALLS", "-D__ARCH_WANT_SYS_CLONE3", "-D__ARCH_WANT_MEMFD_SECRET",
		"/usr/include/asm-generic/unistd.h"}
	out, err := exec.Command("cpp", args...).Output()
	if err != nil {
		return nil, fmt.Errorf("cpp: %w", err)
	}
	return table(macros(out))
}

func main() {
	tables := map[string]map[string]uint32{}
	var err error
	if tables["x86_64"], err = header(x86inc+"unistd_64.h", nil); err != nil {
		fail(err)
	}
	if tables["x86"], err = header(x86inc+"unistd_32.h", nil); err != nil {
		fail(err)
	}
	if tables["x32"], err = header(x86inc+"unistd_x32.h", map[string]string{"__X32_SYSCALL_BIT": "0x40000000"}); err != nil {
		fail(err)
	}
	if tables["aarch64"], err = aarch64(); err != nil {
		fail(err)
	}
	for _, n := range newer {
		for _, a := range strings.Fields(n.arches) {
			nr := n.nr
			if a == "x32" {
				nr |= x32Bit
			}
			if _, ok := tables[a][n.name]; !ok {
				tables[a][n.name] = nr
			}
		}
	}
	var buf bytes.Buffer
	buf.WriteString("// Code generated by mksyscalls.go from the kernel's UAPI headers; DO NOT EDIT.\n\npackage seccomp\n\n")
	arches := []string{"x86_64", "x86", "x32", "aarch64"}
	for _, a := range arches {
		t := tables[a]
		names := make([]string, 0, len(t))
		for k := range t {
			names = append(names, k)
		}
		sort.Slice(names, func(i, j int) bool {
			if t[names[i]] != t[names[j]] {
				return t[names[i]] < t[names[j]]
			}
			return names[i] < names[j]
		})
		fmt.Fprintf(&buf, "// syscalls%s returns a table of %d syscall names and their numbers\n// (a function: a map literal at package level would be built at every start).\nfunc syscalls%s() map[string]uint32 {\nreturn map[string]uint32{\n", goName(a), len(t), goName(a))
		for _, n := range names {
			fmt.Fprintf(&buf, "%q: %#x,\n", n, t[n])
		}
		buf.WriteString("}\n}\n\n")
	}
	src, err := format.Source(buf.Bytes())
	if err != nil {
		fail(err)
	}
	if err := os.WriteFile("zsyscalls.go", src, 0o644); err != nil {
		fail(err)
	}
}

func goName(a string) string {
	switch a {
	case "x86_64":
		return "X86_64"
	case "x86":
		return "X86"
	case "x32":
		return "X32"
	}
	return "AARCH64"
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "mksyscalls:", err)
	os.Exit(1)
}
