package ebpf

import (
	"encoding/binary"
	"fmt"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// run interprets p (only the opcodes Compile emits) on a device request, the
// way the kernel would run the filter, and returns r0.
func run(t testing.TB, p Program, typ, acc, major, minor uint32) uint64 {
	t.Helper()
	var ctx [12]byte
	binary.LittleEndian.PutUint32(ctx[0:], acc<<16|typ)
	binary.LittleEndian.PutUint32(ctx[4:], major)
	binary.LittleEndian.PutUint32(ctx[8:], minor)
	var reg [11]uint64
	for pc, steps := 0, 0; ; pc++ {
		if pc < 0 || pc >= len(p) {
			t.Fatalf("pc %d out of program (len %d)", pc, len(p))
		}
		if steps++; steps > 4096 {
			t.Fatal("program does not terminate")
		}
		in := p[pc]
		switch in.Code {
		case ldxMemW:
			if in.Src != rCtx || in.Off < 0 || in.Off > 8 || in.Off%4 != 0 {
				t.Fatalf("pc %d: load from r%d+%d is not a ctx field", pc, in.Src, in.Off)
			}
			reg[in.Dst] = uint64(binary.LittleEndian.Uint32(ctx[in.Off:]))
		case alu64AndK:
			reg[in.Dst] &= uint64(int64(in.Imm))
		case alu64RshK:
			reg[in.Dst] >>= uint(in.Imm)
		case alu64MovK:
			reg[in.Dst] = uint64(int64(in.Imm))
		case alu64MovX:
			reg[in.Dst] = reg[in.Src]
		case jmpJeqK, jmpJneK, jmpJsetK:
			k := uint64(int64(in.Imm))
			var jump bool
			switch in.Code {
			case jmpJeqK:
				jump = reg[in.Dst] == k
			case jmpJneK:
				jump = reg[in.Dst] != k
			default:
				jump = reg[in.Dst]&k != 0
			}
			if jump {
				pc += int(in.Off)
			}
		case jmpExit:
			return reg[rRet]
		default:
			t.Fatalf("pc %d: unexpected opcode %#x", pc, in.Code)
		}
	}
}

// model is the reference semantics: the last rule that matches decides;
// none → deny. Allow rules must grant every requested bit; deny rules match
// when they name any requested bit.
func model(rules []specs.LinuxDeviceCgroup, typ, acc, major, minor uint32) bool {
	for i := len(rules) - 1; i >= 0; i-- {
		r := rules[i]
		switch r.Type {
		case "c":
			if typ != devChar {
				continue
			}
		case "b":
			if typ != devBlock {
				continue
			}
		}
		if !wild(r.Major) && uint32(*r.Major) != major {
			continue
		}
		if !wild(r.Minor) && uint32(*r.Minor) != minor {
			continue
		}
		ra := uint32(accessBits(r.Access))
		if r.Allow && acc&^ra != 0 {
			continue
		}
		if !r.Allow && acc&ra == 0 {
			continue
		}
		return r.Allow
	}
	return false
}

func n(v int64) *int64 { return &v }

func TestCompileDecisions(t *testing.T) {
	defaults := []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: n(1), Minor: n(3), Access: "rwm"},
		{Allow: true, Type: "c", Major: n(136), Minor: n(-1), Access: "rwm"},
		{Allow: true, Type: "b", Access: "m"},
	}
	const r, w, m = accRead, accWrite, accMknod
	type q struct {
		typ, acc, maj, min uint32
		want               uint64
	}
	cases := []struct {
		name  string
		rules []specs.LinuxDeviceCgroup
		qs    []q
	}{
		{"no rules denies", nil, []q{{devChar, r, 1, 3, 0}}},
		{"defaults", defaults, []q{
			{devChar, r | w, 1, 3, 1}, {devChar, w, 1, 5, 0}, {devChar, r, 136, 7, 1},
			{devBlock, m, 8, 0, 1}, {devBlock, r, 8, 0, 0}, {devChar, m, 1, 3, 1},
		}},
		{"deny write after allow", append(append([]specs.LinuxDeviceCgroup{}, defaults...),
			specs.LinuxDeviceCgroup{Allow: false, Type: "c", Major: n(1), Minor: n(3), Access: "w"}), []q{
			{devChar, r, 1, 3, 1}, {devChar, w, 1, 3, 0}, {devChar, r | w, 1, 3, 0},
		}},
		{"allow all then deny one", []specs.LinuxDeviceCgroup{
			{Allow: true, Type: "a"}, {Allow: false, Type: "b", Major: n(8), Minor: n(0)},
		}, []q{{devBlock, r, 8, 0, 0}, {devBlock, r, 8, 1, 1}, {devChar, r | w | m, 4, 4, 1}}},
		{"partial allow does not grant more", []specs.LinuxDeviceCgroup{
			{Allow: true, Type: "c", Major: n(1), Minor: n(3), Access: "r"},
		}, []q{{devChar, r, 1, 3, 1}, {devChar, r | w, 1, 3, 0}, {devChar, w, 1, 3, 0}}},
	}
	for _, c := range cases {
		p, err := Compile(c.rules)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for _, x := range c.qs {
			if got := run(t, p, x.typ, x.acc, x.maj, x.min); got != x.want {
				t.Errorf("%s: type %d access %d %d:%d → %d, want %d", c.name, x.typ, x.acc, x.maj, x.min, got, x.want)
			}
			if model(c.rules, x.typ, x.acc, x.maj, x.min) != (x.want == 1) {
				t.Errorf("%s: the reference model disagrees with the expectation for %+v", c.name, x)
			}
		}
	}
}

func TestCompileRejects(t *testing.T) {
	for _, r := range []specs.LinuxDeviceCgroup{
		{Type: "x"}, {Type: "c", Access: "rx"}, {Type: "c", Major: n(1 << 40)}, {Type: "c", Minor: n(-5)},
	} {
		if _, err := Compile([]specs.LinuxDeviceCgroup{r}); err == nil {
			t.Errorf("Compile(%+v) succeeded", r)
		}
	}
}

func TestBytesLayout(t *testing.T) {
	b := Program{{Code: ldxMemW, Dst: 2, Src: 1, Off: 4, Imm: -1}}.Bytes()
	want := []byte{0x61, 0x12, 4, 0, 0xff, 0xff, 0xff, 0xff}
	if fmt.Sprint(b) != fmt.Sprint(want) {
		t.Fatalf("Bytes = %v, want %v", b, want)
	}
}

// rulesFromBytes decodes fuzz input into up to 8 rules over a small device space.
func rulesFromBytes(data []byte) []specs.LinuxDeviceCgroup {
	var rules []specs.LinuxDeviceCgroup
	for len(data) >= 4 && len(rules) < 8 {
		b := data[:4]
		data = data[4:]
		r := specs.LinuxDeviceCgroup{Allow: b[0]&1 == 1, Type: []string{"", "a", "b", "c"}[b[0]>>1&3]}
		acc := ""
		for i, c := range "rwm" {
			if b[1]&(1<<i) != 0 {
				acc += string(c)
			}
		}
		r.Access = acc
		if b[2]&0x80 == 0 {
			r.Major = n(int64(b[2] & 3))
		} else if b[2]&0x40 != 0 {
			r.Major = n(-1)
		}
		if b[3]&0x80 == 0 {
			r.Minor = n(int64(b[3] & 3))
		}
		rules = append(rules, r)
	}
	return rules
}

// FuzzCompile checks the compiled program against the reference model for
// every request over the small device space the fuzzer's rules can name.
func FuzzCompile(f *testing.F) {
	f.Add([]byte{0, 7, 0x80, 0x80, 3, 3, 1, 3, 6, 2, 1, 3})
	f.Add([]byte{3, 7, 0xc0, 0x80, 6, 2, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		rules := rulesFromBytes(data)
		p, err := Compile(rules)
		if err != nil {
			t.Fatalf("Compile(%+v): %v", rules, err)
		}
		for _, typ := range []uint32{devBlock, devChar} {
			for acc := uint32(1); acc <= 7; acc++ {
				for maj := uint32(0); maj < 5; maj++ {
					for min := uint32(0); min < 5; min++ {
						got := run(t, p, typ, acc, maj, min) == 1
						if want := model(rules, typ, acc, maj, min); got != want {
							t.Fatalf("rules %+v: type %d access %d %d:%d → %v, model says %v", rules, typ, acc, maj, min, got, want)
						}
					}
				}
			}
		}
	})
}
