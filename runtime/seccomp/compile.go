package seccomp

import (
	"fmt"
	"runtime"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/internal/errdefs"
)

// Classic BPF opcodes used by the filter.
const (
	opLdAbs  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	opAndK   = unix.BPF_ALU | unix.BPF_AND | unix.BPF_K
	opJa     = unix.BPF_JMP | unix.BPF_JA
	opJeqK   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	opJgtK   = unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K
	opJgeK   = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
	opRetK   = unix.BPF_RET | unix.BPF_K
	offNr    = 0  // offsetof(struct seccomp_data, nr)
	offArch  = 4  // offsetof(struct seccomp_data, arch)
	offArgs  = 16 // offsetof(struct seccomp_data, args)
	maxChunk = 200
)

// rule is one compiled rule for one syscall: all conds must hold (AND).
type rule struct {
	action uint32
	conds  []specs.LinuxSeccompArg
}

// Compile translates s into a seccomp BPF program for the native
// architecture plus every listed one. Semantics follow libseccomp as runc
// uses it:
//
//   - the native architecture is always filtered; a syscall made under an
//     architecture the filter does not list kills the thread (libseccomp's
//     default bad-arch action); on x86_64, x32 syscalls (nr with
//     __X32_SYSCALL_BIT) are filtered by the x32 rules when SCMP_ARCH_X32 is
//     listed and hit the bad-arch action otherwise;
//   - syscall names unknown on an architecture are skipped there;
//   - a rule whose action equals the default action is dropped (it changes
//     nothing; libseccomp refuses such rules and runc skips them);
//   - the args of a rule must all match (AND), except when two args name the
//     same index: then each arg becomes a rule of its own (OR), as runc does;
//   - several rules for one syscall are tried in order, first match wins; an
//     unconditional rule for a syscall overrides its conditional ones;
//   - when the default action denies (ERRNO, KILL*, TRAP), a syscall number
//     above every number this build knows for the architecture answers
//     ENOSYS, so programs fall back from syscalls newer than the profile;
//   - argument values are compared as unsigned 64-bit numbers (both 32-bit
//     halves) on 64-bit ABIs and on their low 32 bits on 32-bit ABIs (x86,
//     x32); SCMP_CMP_MASKED_EQ matches when (arg & value) == valueTwo.
//
// A nil s compiles to nil (no filter).
func Compile(s *specs.LinuxSeccomp) ([]unix.SockFilter, error) {
	if s == nil {
		return nil, nil
	}
	if _, err := validate(s); err != nil {
		return nil, err
	}
	native := nativeArch()
	if native == "" {
		return nil, fmt.Errorf("linux.seccomp: architecture %s is not supported by this build: %w", runtimeArch(), errdefs.ErrNotImplemented)
	}
	list := []*archInfo{archs[native]}
	seen := map[specs.Arch]bool{native: true}
	for _, a := range s.Architectures {
		if !seen[a] {
			seen[a] = true
			list = append(list, archs[a])
		}
	}
	def := actionValue(s.DefaultAction, s.DefaultErrnoRet)

	a := asm{
		prog:   make([]unix.SockFilter, 0, 1024),
		jt:     make([]int, 0, 1024),
		jf:     make([]int, 0, 1024),
		jaL:    make([]int, 0, 1024),
		labels: make([]int, 0, 256),
	}
	// Dispatch on seccomp_data.arch; each audit value appears once (x86_64
	// and x32 share one).
	a.ld(offArch)
	type auditGroup struct {
		audit  uint32
		label  int
		arches []*archInfo
	}
	var groups []*auditGroup
	byAudit := map[uint32]*auditGroup{}
	for _, ai := range list {
		g := byAudit[ai.audit]
		if g == nil {
			g = &auditGroup{audit: ai.audit, label: a.newLabel()}
			byAudit[ai.audit] = g
			groups = append(groups, g)
		}
		g.arches = append(g.arches, ai)
	}
	for _, g := range groups {
		a.jump(opJeqK, g.audit, labelNext, rel(1))
		a.ja(g.label)
	}
	a.ret(badArchAction)
	for _, g := range groups {
		a.place(g.label)
		if g.audit == unix.AUDIT_ARCH_X86_64 {
			var x64, x32 *archInfo
			for _, ai := range g.arches {
				if ai.name == specs.ArchX32 {
					x32 = ai
				} else {
					x64 = ai
				}
			}
			a.ld(offNr)
			// nr -1 (a tracer skipping the syscall) is not an x32 call.
			a.jump(opJeqK, ^uint32(0), rel(2), labelNext)
			a.jump(opJgeK, x32SyscallBit, labelNext, rel(1))
			var x32Label int
			if x32 != nil {
				x32Label = a.newLabel()
				a.ja(x32Label)
			} else {
				a.ret(badArchAction)
			}
			if x64 != nil {
				if err := a.section(x64, s, def); err != nil {
					return nil, err
				}
			} else {
				a.ret(badArchAction)
			}
			if x32 != nil {
				a.place(x32Label)
				if err := a.section(x32, s, def); err != nil {
					return nil, err
				}
			}
			continue
		}
		for _, ai := range g.arches {
			if err := a.section(ai, s, def); err != nil {
				return nil, err
			}
		}
	}
	prog, err := a.assemble()
	if err != nil {
		return nil, err
	}
	if len(prog) > maxInsns {
		return nil, fmt.Errorf("linux.seccomp: the filter needs %d BPF instructions, over the kernel's limit of %d: %w", len(prog), maxInsns, errdefs.ErrInvalidArgument)
	}
	return prog, nil
}

func runtimeArch() string { return runtime.GOARCH }

// sysRules is the rule list of one syscall number.
type sysRules struct {
	nr    uint32
	rules []rule
}

// rulesFor gathers, for one architecture, the rules of every syscall
// number, sorted by number.
func rulesFor(ai *archInfo, s *specs.LinuxSeccomp, def uint32) []sysRules {
	// keys: syscall number in the high half, rule sequence in the low half,
	// so one integer sort orders by number, then by rule order.
	keys := make([]uint64, 0, 512)
	bySeq := make([]rule, 0, 512)
	for _, sc := range s.Syscalls {
		act := actionValue(sc.Action, sc.ErrnoRet)
		if act == def {
			continue
		}
		split := false
		var seen [6]bool
		for _, c := range sc.Args {
			if seen[c.Index] {
				split = true
			}
			seen[c.Index] = true
		}
		for _, name := range sc.Names {
			nr, ok := ai.table()[name]
			if !ok {
				continue
			}
			if split {
				for i := range sc.Args {
					keys = append(keys, uint64(nr)<<32|uint64(len(bySeq)))
					bySeq = append(bySeq, rule{act, sc.Args[i : i+1]})
				}
			} else {
				keys = append(keys, uint64(nr)<<32|uint64(len(bySeq)))
				bySeq = append(bySeq, rule{act, sc.Args})
			}
		}
	}
	slices.Sort(keys)
	out := make([]sysRules, 0, len(keys))
	flat := make([]rule, 0, len(keys))
	for i := 0; i < len(keys); {
		nr := uint32(keys[i] >> 32)
		j := i
		for j < len(keys) && uint32(keys[j]>>32) == nr {
			j++
		}
		start := len(flat)
		for k := i; k < j; k++ {
			r := bySeq[uint32(keys[k])]
			if len(r.conds) == 0 {
				flat = append(flat[:start], r)
				break
			}
			flat = append(flat, r)
		}
		out = append(out, sysRules{nr: nr, rules: flat[start:len(flat):len(flat)]})
		i = j
	}
	return out
}

// interval maps the syscall numbers from start up to the next interval's
// start to a return value, or to the rule body of one conditional syscall.
type interval struct {
	start uint32
	ret   uint32
	body  int // index into the section's conditional syscalls, or -1
}

// section emits the code for one architecture: a binary search over the
// syscall number down to a RET (or a jump to a rule body), so a syscall
// costs about log2(intervals) comparisons, then the rule bodies.
func (a *asm) section(ai *archInfo, s *specs.LinuxSeccomp, def uint32) error {
	all := rulesFor(ai, s, def)
	iv := make([]interval, 0, 2*len(all)+2)
	add := func(x interval) {
		if n := len(iv); n > 0 && iv[n-1].start == x.start {
			iv = iv[:n-1] // empty interval
		}
		if n := len(iv); n > 0 && x.body < 0 && iv[n-1].body < 0 && iv[n-1].ret == x.ret {
			return // same outcome: extend the previous interval
		}
		iv = append(iv, x)
	}
	add(interval{0, def, -1})
	var conditional []sysRules
	for _, sr := range all {
		if len(sr.rules) == 1 && len(sr.rules[0].conds) == 0 {
			add(interval{sr.nr, sr.rules[0].action, -1})
		} else {
			add(interval{sr.nr, 0, len(conditional)})
			conditional = append(conditional, sr)
		}
		if sr.nr != ^uint32(0) {
			add(interval{sr.nr + 1, def, -1})
		}
	}
	if enosysForUnknown(def) && ai.maxNr() != ^uint32(0) {
		add(interval{ai.maxNr() + 1, unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS), -1})
	}
	bodies := make([]int, len(conditional))
	for i := range bodies {
		bodies[i] = a.newLabel()
	}
	a.ld(offNr)
	a.tree(iv, bodies)
	for i, sr := range conditional {
		a.place(bodies[i])
		for _, r := range sr.rules {
			next := a.newLabel()
			for _, c := range r.conds {
				a.cond(c, ai.bits32, next)
			}
			a.ret(r.action)
			a.place(next)
		}
		a.ret(def)
	}
	return nil
}

// treeSize is the number of instructions tree emits for iv.
func treeSize(iv []interval) int {
	if len(iv) == 1 {
		return 1
	}
	mid := len(iv) / 2
	l := treeSize(iv[:mid])
	if l > 255 {
		return 2 + l + treeSize(iv[mid:])
	}
	return 1 + l + treeSize(iv[mid:])
}

// tree emits a binary search over the interval starts (A holds the number).
// The lower half follows its JGE; the upper half comes after it, reached by
// the JGE's true branch, or by a JA when the lower half is too long for an
// 8-bit jump.
func (a *asm) tree(iv []interval, bodies []int) {
	if len(iv) == 1 {
		if iv[0].body >= 0 {
			a.ja(bodies[iv[0].body])
		} else {
			a.ret(iv[0].ret)
		}
		return
	}
	mid := len(iv) / 2
	l := treeSize(iv[:mid])
	if l <= 255 {
		a.jump(opJgeK, iv[mid].start, rel(l), labelNext)
	} else {
		a.jump(opJgeK, iv[mid].start, labelNext, rel(1))
		a.ja(rel(l))
	}
	a.tree(iv[:mid], bodies)
	a.tree(iv[mid:], bodies)
}

// enosysForUnknown reports whether syscalls newer than this build's tables
// answer ENOSYS rather than def. They do when def denies: a program probing
// a syscall its kernel might lack (as C libraries do for new ones) then
// falls back to the older call instead of failing or dying, as with runc.
func enosysForUnknown(def uint32) bool {
	switch def & unix.SECCOMP_RET_ACTION_FULL {
	case unix.SECCOMP_RET_ERRNO, unix.SECCOMP_RET_KILL_THREAD, unix.SECCOMP_RET_KILL_PROCESS, unix.SECCOMP_RET_TRAP:
		return true
	}
	return false
}

// maxNr is the highest syscall number in the architecture's table.
func (ai *archInfo) maxNr() uint32 {
	ai.maxOnce.Do(func() {
		for _, n := range ai.table() {
			ai.max = max(ai.max, n)
		}
	})
	return ai.max
}

// cond emits a test of one argument; control reaches the following code
// when it holds and jumps to fail when it does not. A is clobbered.
func (a *asm) cond(c specs.LinuxSeccompArg, bits32 bool, fail int) {
	lo := uint32(offArgs + 8*c.Index)
	hi := lo + 4 // all filtered ABIs are little-endian
	vLo, vHi := uint32(c.Value), uint32(c.Value>>32)
	v2Lo, v2Hi := uint32(c.ValueTwo), uint32(c.ValueTwo>>32)
	pass := a.newLabel()
	if bits32 {
		switch c.Op {
		case specs.OpEqualTo:
			a.ld(lo)
			a.jump(opJeqK, vLo, labelNext, fail)
		case specs.OpNotEqual:
			a.ld(lo)
			a.jump(opJeqK, vLo, fail, labelNext)
		case specs.OpGreaterThan:
			a.ld(lo)
			a.jump(opJgtK, vLo, labelNext, fail)
		case specs.OpGreaterEqual:
			a.ld(lo)
			a.jump(opJgeK, vLo, labelNext, fail)
		case specs.OpLessThan:
			a.ld(lo)
			a.jump(opJgeK, vLo, fail, labelNext)
		case specs.OpLessEqual:
			a.ld(lo)
			a.jump(opJgtK, vLo, fail, labelNext)
		case specs.OpMaskedEqual:
			a.ld(lo)
			a.alu(opAndK, vLo)
			a.jump(opJeqK, v2Lo, labelNext, fail)
		}
		a.place(pass)
		return
	}
	switch c.Op {
	case specs.OpEqualTo:
		a.ld(hi)
		a.jump(opJeqK, vHi, labelNext, fail)
		a.ld(lo)
		a.jump(opJeqK, vLo, labelNext, fail)
	case specs.OpNotEqual:
		a.ld(hi)
		a.jump(opJeqK, vHi, labelNext, pass)
		a.ld(lo)
		a.jump(opJeqK, vLo, fail, labelNext)
	case specs.OpGreaterThan:
		a.ld(hi)
		a.jump(opJgtK, vHi, pass, labelNext)
		a.jump(opJeqK, vHi, labelNext, fail)
		a.ld(lo)
		a.jump(opJgtK, vLo, labelNext, fail)
	case specs.OpGreaterEqual:
		a.ld(hi)
		a.jump(opJgtK, vHi, pass, labelNext)
		a.jump(opJeqK, vHi, labelNext, fail)
		a.ld(lo)
		a.jump(opJgeK, vLo, labelNext, fail)
	case specs.OpLessThan:
		a.ld(hi)
		a.jump(opJgtK, vHi, fail, labelNext)
		a.jump(opJeqK, vHi, labelNext, pass)
		a.ld(lo)
		a.jump(opJgeK, vLo, fail, labelNext)
	case specs.OpLessEqual:
		a.ld(hi)
		a.jump(opJgtK, vHi, fail, labelNext)
		a.jump(opJeqK, vHi, labelNext, pass)
		a.ld(lo)
		a.jump(opJgtK, vLo, fail, labelNext)
	case specs.OpMaskedEqual:
		a.ld(hi)
		a.alu(opAndK, vHi)
		a.jump(opJeqK, v2Hi, labelNext, fail)
		a.ld(lo)
		a.alu(opAndK, vLo)
		a.jump(opJeqK, v2Lo, labelNext, fail)
	}
	a.place(pass)
}

// labelNext as a jump target means "the next instruction".
const labelNext = -1

// asm is a tiny classic-BPF assembler with forward labels.
type asm struct {
	prog   []unix.SockFilter
	jt, jf []int // label of each conditional jump's targets (labelNext: 0)
	jaL    []int // label of each JA (or -2 when none)
	labels []int // label → instruction index (-1 until placed)
}

func (a *asm) newLabel() int {
	a.labels = append(a.labels, -1)
	return len(a.labels) - 1
}

func (a *asm) place(l int) { a.labels[l] = len(a.prog) }

func (a *asm) emit(code uint16, k uint32, jt, jf, ja int) {
	a.prog = append(a.prog, unix.SockFilter{Code: code, K: k})
	a.jt = append(a.jt, jt)
	a.jf = append(a.jf, jf)
	a.jaL = append(a.jaL, ja)
}

func (a *asm) ld(off uint32)           { a.emit(opLdAbs, off, labelNext, labelNext, -2) }
func (a *asm) alu(op uint16, k uint32) { a.emit(op, k, labelNext, labelNext, -2) }
func (a *asm) ret(k uint32)            { a.emit(opRetK, k, labelNext, labelNext, -2) }
func (a *asm) ja(l int)                { a.emit(opJa, 0, labelNext, labelNext, l) }
func (a *asm) jump(op uint16, k uint32, jt, jf int) {
	a.emit(op, k, jt, jf, -2)
}

// relBase encodes literal jump offsets as labels: rel(n) skips n
// instructions.
const relBase = -3

func rel(n int) int { return relBase - n }

// assemble resolves labels into relative offsets.
func (a *asm) assemble() ([]unix.SockFilter, error) {
	off := func(i, l int) (int, error) {
		switch {
		case l == labelNext:
			return 0, nil
		case l <= relBase:
			return relBase - l, nil
		}
		t := a.labels[l]
		if t < 0 {
			return 0, fmt.Errorf("seccomp: internal error: label %d not placed", l)
		}
		d := t - (i + 1)
		if d < 0 {
			return 0, fmt.Errorf("seccomp: internal error: backward jump at %d", i)
		}
		return d, nil
	}
	for i := range a.prog {
		if a.jaL[i] != -2 {
			d, err := off(i, a.jaL[i])
			if err != nil {
				return nil, err
			}
			a.prog[i].K = uint32(d)
			continue
		}
		if a.prog[i].Code&0x07 != unix.BPF_JMP {
			continue
		}
		t, err := off(i, a.jt[i])
		if err != nil {
			return nil, err
		}
		f, err := off(i, a.jf[i])
		if err != nil {
			return nil, err
		}
		if t > 255 || f > 255 {
			return nil, fmt.Errorf("seccomp: internal error: jump of %d/%d at %d exceeds 255", t, f, i)
		}
		a.prog[i].Jt, a.prog[i].Jf = uint8(t), uint8(f)
	}
	return a.prog, nil
}
