package ebpf

import (
	"encoding/binary"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Insn is one eBPF instruction.
type Insn struct {
	Code uint8
	Dst  uint8 // register 0..10
	Src  uint8
	Off  int16
	Imm  int32
}

// Program is a list of instructions.
type Program []Insn

// Opcodes used by the device filter (see the kernel's include/uapi/linux/bpf.h).
const (
	ldxMemW   = 0x61 // BPF_LDX | BPF_MEM | BPF_W:  dst = *(u32 *)(src + off)
	alu64AndK = 0x57 // BPF_ALU64 | BPF_AND | BPF_K
	alu64RshK = 0x77 // BPF_ALU64 | BPF_RSH | BPF_K
	alu64MovK = 0xb7 // BPF_ALU64 | BPF_MOV | BPF_K
	alu64MovX = 0xbf // BPF_ALU64 | BPF_MOV | BPF_X
	jmpJeqK   = 0x15 // BPF_JMP | BPF_JEQ | BPF_K
	jmpJneK   = 0x55 // BPF_JMP | BPF_JNE | BPF_K
	jmpJsetK  = 0x45 // BPF_JMP | BPF_JSET | BPF_K
	jmpExit   = 0x95 // BPF_JMP | BPF_EXIT
)

// bpf_cgroup_dev_ctx: u32 access_type (access<<16 | type), u32 major, u32 minor.
const (
	devBlock = 1 // BPF_DEVCG_DEV_BLOCK
	devChar  = 2 // BPF_DEVCG_DEV_CHAR

	accMknod = 1 // BPF_DEVCG_ACC_MKNOD
	accRead  = 2 // BPF_DEVCG_ACC_READ
	accWrite = 4 // BPF_DEVCG_ACC_WRITE
	accAll   = accMknod | accRead | accWrite
)

// Registers after the prologue: r2 type, r3 requested access, r4 major, r5 minor.
const (
	rRet, rCtx, rType, rAcc, rMaj, rMin = 0, 1, 2, 3, 4, 5
)

// Compile turns the rules into a device filter. Rules are applied in order,
// later rules winning: the program tests them last to first and returns the
// verdict of the first that matches; when none matches, access is denied.
// An allow rule matches a request whose every access bit it grants; a deny
// rule matches a request that asks for any access bit it names.
func Compile(rules []specs.LinuxDeviceCgroup) (Program, error) {
	p := Program{
		{Code: ldxMemW, Dst: rType, Src: rCtx, Off: 0},
		{Code: alu64AndK, Dst: rType, Imm: 0xffff},
		{Code: ldxMemW, Dst: rAcc, Src: rCtx, Off: 0},
		{Code: alu64RshK, Dst: rAcc, Imm: 16},
		{Code: ldxMemW, Dst: rMaj, Src: rCtx, Off: 4},
		{Code: ldxMemW, Dst: rMin, Src: rCtx, Off: 8},
	}
	for i := len(rules) - 1; i >= 0; i-- {
		blk, err := ruleBlock(rules[i])
		if err != nil {
			return nil, fmt.Errorf("devices[%d]: %w", i, err)
		}
		p = append(p, blk...)
		if isCatchAll(rules[i]) {
			// Nothing before a rule that matches everything can be reached.
			return p, nil
		}
	}
	p = append(p, Insn{Code: alu64MovK, Dst: rRet, Imm: 0}, Insn{Code: jmpExit})
	return p, nil
}

func isCatchAll(r specs.LinuxDeviceCgroup) bool {
	return (r.Type == "" || r.Type == "a") && wild(r.Major) && wild(r.Minor) && accessBits(r.Access) == accAll
}

func wild(p *int64) bool { return p == nil || *p == -1 }

func accessBits(a string) int32 {
	if a == "" {
		return accAll
	}
	var b int32
	for _, c := range a {
		switch c {
		case 'r':
			b |= accRead
		case 'w':
			b |= accWrite
		case 'm':
			b |= accMknod
		}
	}
	return b
}

// ruleBlock emits: checks that jump past the block on mismatch, then
// "r0 = verdict; exit". Jump offsets count instructions after the jump.
func ruleBlock(r specs.LinuxDeviceCgroup) (Program, error) {
	var checks Program
	switch r.Type {
	case "", "a":
	case "c":
		checks = append(checks, Insn{Code: jmpJneK, Dst: rType, Imm: devChar})
	case "b":
		checks = append(checks, Insn{Code: jmpJneK, Dst: rType, Imm: devBlock})
	default:
		return nil, fmt.Errorf("type %q: want a, b or c", r.Type)
	}
	acc := accessBits(r.Access)
	for _, c := range r.Access {
		if c != 'r' && c != 'w' && c != 'm' {
			return nil, fmt.Errorf("access %q: want letters from \"rwm\"", r.Access)
		}
	}
	if acc != accAll {
		if r.Allow {
			// Mismatch when the request asks for a bit the rule does not grant.
			checks = append(checks, Insn{Code: jmpJsetK, Dst: rAcc, Imm: ^acc & accAll})
		} else {
			// Mismatch when the request shares no bit with the rule.
			checks = append(checks,
				Insn{Code: alu64MovX, Dst: rCtx, Src: rAcc},
				Insn{Code: alu64AndK, Dst: rCtx, Imm: acc},
				Insn{Code: jmpJeqK, Dst: rCtx, Imm: 0})
		}
	}
	for _, n := range []struct {
		v   *int64
		reg uint8
	}{{r.Major, rMaj}, {r.Minor, rMin}} {
		if wild(n.v) {
			continue
		}
		if *n.v < 0 || *n.v > 0xffffffff {
			return nil, fmt.Errorf("device number %d out of range", *n.v)
		}
		// JNE compares with the sign-extended immediate; the ctx field was
		// loaded zero-extended, so numbers above 2^31-1 are rejected.
		if *n.v > 0x7fffffff {
			return nil, fmt.Errorf("device number %d above 2147483647 unsupported", *n.v)
		}
		checks = append(checks, Insn{Code: jmpJneK, Dst: n.reg, Imm: int32(*n.v)})
	}
	verdict := int32(0)
	if r.Allow {
		verdict = 1
	}
	tail := Program{{Code: alu64MovK, Dst: rRet, Imm: verdict}, {Code: jmpExit}}
	out := make(Program, 0, len(checks)+len(tail))
	for i, in := range checks {
		if in.Code == jmpJneK || in.Code == jmpJeqK || in.Code == jmpJsetK {
			in.Off = int16(len(checks) - i - 1 + len(tail))
		}
		out = append(out, in)
	}
	return append(out, tail...), nil
}

// Bytes encodes the program in the kernel's struct bpf_insn layout
// (little-endian hosts: dst register in the low nibble).
func (p Program) Bytes() []byte {
	b := make([]byte, 8*len(p))
	for i, in := range p {
		o := b[8*i:]
		o[0] = in.Code
		o[1] = in.Dst&0xf | in.Src<<4
		binary.LittleEndian.PutUint16(o[2:], uint16(in.Off))
		binary.LittleEndian.PutUint32(o[4:], uint32(in.Imm))
	}
	return b
}
