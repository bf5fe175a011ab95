package seccomp

import (
	"encoding/binary"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// seccompData mirrors struct seccomp_data.
type seccompData struct {
	nr   uint32
	arch uint32
	ip   uint64
	args [6]uint64
}

func (d seccompData) bytes() []byte {
	b := make([]byte, 64)
	binary.LittleEndian.PutUint32(b[0:], d.nr)
	binary.LittleEndian.PutUint32(b[4:], d.arch)
	binary.LittleEndian.PutUint64(b[8:], d.ip)
	for i, a := range d.args {
		binary.LittleEndian.PutUint64(b[16+8*i:], a)
	}
	return b
}

// verify makes the static checks the kernel makes on a seccomp filter
// (bpf_check_classic and seccomp_check_filter): known opcodes only, loads of
// aligned words inside seccomp_data, jumps inside the program, a RET last.
func verify(prog []unix.SockFilter) error {
	if len(prog) == 0 || len(prog) > maxInsns {
		return fmt.Errorf("program length %d", len(prog))
	}
	for i, in := range prog {
		switch in.Code {
		case opLdAbs:
			if in.K >= 64 || in.K%4 != 0 {
				return fmt.Errorf("insn %d: load at offset %d", i, in.K)
			}
		case opAndK, opRetK:
		case opJa:
			if uint64(i)+1+uint64(in.K) >= uint64(len(prog)) {
				return fmt.Errorf("insn %d: ja %d out of range", i, in.K)
			}
		case opJeqK, opJgtK, opJgeK:
			if i+1+int(in.Jt) >= len(prog) || i+1+int(in.Jf) >= len(prog) {
				return fmt.Errorf("insn %d: jump %d/%d out of range", i, in.Jt, in.Jf)
			}
		default:
			return fmt.Errorf("insn %d: opcode %#x not allowed", i, in.Code)
		}
	}
	if prog[len(prog)-1].Code != opRetK {
		return fmt.Errorf("last instruction is not RET")
	}
	return nil
}

// run interprets prog on d the way the kernel does and returns the
// SECCOMP_RET_* value. It fails on anything the kernel would refuse.
func run(prog []unix.SockFilter, d seccompData) (uint32, error) {
	data := d.bytes()
	var acc uint32
	for pc, steps := 0, 0; ; steps++ {
		if pc < 0 || pc >= len(prog) {
			return 0, fmt.Errorf("pc %d out of program", pc)
		}
		if steps > len(prog) {
			return 0, fmt.Errorf("loop")
		}
		in := prog[pc]
		pc++
		switch in.Code {
		case opLdAbs:
			if in.K >= 64 || in.K%4 != 0 {
				return 0, fmt.Errorf("bad load %d", in.K)
			}
			acc = binary.LittleEndian.Uint32(data[in.K:])
		case opAndK:
			acc &= in.K
		case opRetK:
			return in.K, nil
		case opJa:
			pc += int(in.K)
		case opJeqK, opJgtK, opJgeK:
			var ok bool
			switch in.Code {
			case opJeqK:
				ok = acc == in.K
			case opJgtK:
				ok = acc > in.K
			case opJgeK:
				ok = acc >= in.K
			}
			if ok {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		default:
			return 0, fmt.Errorf("opcode %#x", in.Code)
		}
	}
}

// model computes the action s prescribes for d directly from the spec,
// independently of the compiler, following the semantics Compile documents.
func model(s *specs.LinuxSeccomp, d seccompData) uint32 {
	listed := map[specs.Arch]bool{nativeArch(): true}
	for _, a := range s.Architectures {
		listed[a] = true
	}
	var ai *archInfo
	switch {
	case d.arch == unix.AUDIT_ARCH_X86_64 && d.nr >= x32SyscallBit && d.nr != ^uint32(0):
		if listed[specs.ArchX32] {
			ai = archs[specs.ArchX32]
		}
	case d.arch == unix.AUDIT_ARCH_X86_64:
		if listed[specs.ArchX86_64] {
			ai = archs[specs.ArchX86_64]
		}
	default:
		for a := range listed {
			if archs[a].audit == d.arch {
				ai = archs[a]
			}
		}
	}
	if ai == nil {
		return badArchAction
	}
	def := actionValue(s.DefaultAction, s.DefaultErrnoRet)
	type r struct {
		act   uint32
		conds []specs.LinuxSeccompArg
	}
	var rules []r
	for _, sc := range s.Syscalls {
		act := actionValue(sc.Action, sc.ErrnoRet)
		if act == def {
			continue
		}
		hit := false
		for _, n := range sc.Names {
			if nr, ok := ai.table()[n]; ok && nr == d.nr {
				hit = true
			}
		}
		if !hit {
			continue
		}
		idx := map[uint]int{}
		for _, c := range sc.Args {
			idx[c.Index]++
		}
		if len(idx) < len(sc.Args) {
			for _, c := range sc.Args {
				rules = append(rules, r{act, []specs.LinuxSeccompArg{c}})
			}
		} else {
			rules = append(rules, r{act, sc.Args})
		}
	}
	for _, x := range rules {
		if len(x.conds) == 0 {
			return x.act
		}
	}
	for _, x := range rules {
		all := true
		for _, c := range x.conds {
			if !holds(c, d.args[c.Index], ai.bits32) {
				all = false
			}
		}
		if all {
			return x.act
		}
	}
	if enosysForUnknown(def) && d.nr > ai.maxNr() {
		return unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	}
	return def
}

func holds(c specs.LinuxSeccompArg, arg uint64, bits32 bool) bool {
	v, v2 := c.Value, c.ValueTwo
	if bits32 {
		arg, v, v2 = uint64(uint32(arg)), uint64(uint32(v)), uint64(uint32(v2))
	}
	switch c.Op {
	case specs.OpEqualTo:
		return arg == v
	case specs.OpNotEqual:
		return arg != v
	case specs.OpLessThan:
		return arg < v
	case specs.OpLessEqual:
		return arg <= v
	case specs.OpGreaterThan:
		return arg > v
	case specs.OpGreaterEqual:
		return arg >= v
	case specs.OpMaskedEqual:
		return arg&v == v2
	}
	panic(c.Op)
}
