package seccomp

import "testing"

// Spot checks of the generated tables against the kernel's ABI.
func TestSyscallTables(t *testing.T) {
	cases := []struct {
		table func() map[string]uint32
		name  string
		nr    uint32
	}{
		{syscallsX86_64, "read", 0}, {syscallsX86_64, "getpid", 39}, {syscallsX86_64, "mkdirat", 258},
		{syscallsX86_64, "clone3", 435}, {syscallsX86_64, "openat2", 437}, {syscallsX86_64, "fchmodat2", 452},
		{syscallsX86, "read", 3}, {syscallsX86, "socketcall", 102}, {syscallsX86, "mkdirat", 296},
		{syscallsX86, "_llseek", 140}, {syscallsX86, "clone3", 435},
		{syscallsX32, "read", x32SyscallBit}, {syscallsX32, "execve", x32SyscallBit + 520},
		{syscallsX32, "mkdirat", x32SyscallBit + 258},
		{syscallsAARCH64, "openat", 56}, {syscallsAARCH64, "mkdirat", 34}, {syscallsAARCH64, "getpid", 172},
		{syscallsAARCH64, "clone3", 435}, {syscallsAARCH64, "fstat", 80}, {syscallsAARCH64, "memfd_secret", 447},
	}
	for _, c := range cases {
		if got, ok := c.table()[c.name]; !ok || got != c.nr {
			t.Errorf("%s = %d (known %v), want %d", c.name, got, ok, c.nr)
		}
	}
	for _, absent := range []struct {
		table func() map[string]uint32
		name  string
	}{{syscallsX86_64, "socketcall"}, {syscallsAARCH64, "open"}, {syscallsAARCH64, "fork"}, {syscallsX86, "arch_prctl_x"}} {
		if _, ok := absent.table()[absent.name]; ok {
			t.Errorf("%s should not be in the table", absent.name)
		}
	}
}
