package filters

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/berth-containers/berth/internal/errdefs"
)

// Adaptor returns the value at fieldpath of the object being matched and
// whether it is present.
type Adaptor func(fieldpath []string) (string, bool)

// Filter matches objects.
type Filter interface {
	Match(a Adaptor) bool
}

type op int

const (
	opPresent op = iota
	opEq
	opNe
	opRe
)

type term struct {
	path  []string
	op    op
	value string
	re    *regexp.Regexp
}

type all []term // every term must match
type any []all  // any conjunction may match

// Always matches everything.
var Always Filter = any(nil)

// maxLen bounds a filter string: they come from the command line and API.
const maxLen = 4096

// Parse parses filter strings; none (or only empty ones) matches all.
func Parse(filters ...string) (Filter, error) {
	var out any
	for _, f := range filters {
		if strings.TrimSpace(f) == "" {
			continue
		}
		if len(f) > maxLen {
			return nil, fmt.Errorf("filter: longer than %d bytes: %w", maxLen, errdefs.ErrInvalidArgument)
		}
		conj, err := parseOne(f)
		if err != nil {
			return nil, err
		}
		out = append(out, conj)
	}
	return out, nil
}

func (a any) Match(ad Adaptor) bool {
	if len(a) == 0 {
		return true
	}
	for _, c := range a {
		if c.match(ad) {
			return true
		}
	}
	return false
}

func (c all) match(ad Adaptor) bool {
	for _, t := range c {
		v, ok := ad(t.path)
		switch t.op {
		case opPresent:
			if !ok {
				return false
			}
		case opEq:
			if !ok || v != t.value {
				return false
			}
		case opNe:
			if ok && v == t.value {
				return false
			}
		case opRe:
			if !ok || !t.re.MatchString(v) {
				return false
			}
		}
	}
	return true
}

type scanner struct {
	s   string
	pos int
	src string
}

func (sc *scanner) errorf(format string, args ...interface{}) error {
	return fmt.Errorf("filter %q at byte %d: %s: %w", sc.src, sc.pos, fmt.Sprintf(format, args...), errdefs.ErrInvalidArgument)
}

func (sc *scanner) eof() bool { return sc.pos >= len(sc.s) }

func (sc *scanner) skipSpace() {
	for !sc.eof() && (sc.s[sc.pos] == ' ' || sc.s[sc.pos] == '\t') {
		sc.pos++
	}
}

// quoted reads a "…" string with \" and \\ escapes; pos is at the quote.
func (sc *scanner) quoted() (string, error) {
	sc.pos++
	var b strings.Builder
	for !sc.eof() {
		c := sc.s[sc.pos]
		switch c {
		case '\\':
			if sc.pos+1 >= len(sc.s) {
				return "", sc.errorf("unfinished escape")
			}
			b.WriteByte(sc.s[sc.pos+1])
			sc.pos += 2
		case '"':
			sc.pos++
			return b.String(), nil
		default:
			b.WriteByte(c)
			sc.pos++
		}
	}
	return "", sc.errorf("unterminated quote")
}

func isFieldChar(c byte) bool {
	return c == '_' || c == '-' || c == '/' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

func parseOne(src string) (all, error) {
	sc := &scanner{s: src, src: src}
	var conj all
	for {
		sc.skipSpace()
		var t term
		// field path
		for {
			if sc.eof() {
				return nil, sc.errorf("expected a field name")
			}
			var part string
			if sc.s[sc.pos] == '"' {
				p, err := sc.quoted()
				if err != nil {
					return nil, err
				}
				part = p
			} else {
				start := sc.pos
				for !sc.eof() && isFieldChar(sc.s[sc.pos]) {
					sc.pos++
				}
				if sc.pos == start {
					return nil, sc.errorf("expected a field name, found %q", sc.s[sc.pos])
				}
				part = sc.s[start:sc.pos]
			}
			t.path = append(t.path, part)
			if len(t.path) > 16 {
				return nil, sc.errorf("field path too deep")
			}
			if !sc.eof() && sc.s[sc.pos] == '.' {
				sc.pos++
				continue
			}
			break
		}
		sc.skipSpace()
		if sc.eof() || sc.s[sc.pos] == ',' {
			t.op = opPresent
		} else {
			rest := sc.s[sc.pos:]
			switch {
			case strings.HasPrefix(rest, "=="):
				t.op = opEq
			case strings.HasPrefix(rest, "!="):
				t.op = opNe
			case strings.HasPrefix(rest, "~="):
				t.op = opRe
			default:
				return nil, sc.errorf("expected ==, != or ~=")
			}
			sc.pos += 2
			sc.skipSpace()
			if !sc.eof() && sc.s[sc.pos] == '"' {
				v, err := sc.quoted()
				if err != nil {
					return nil, err
				}
				t.value = v
			} else {
				start := sc.pos
				for !sc.eof() && sc.s[sc.pos] != ',' {
					sc.pos++
				}
				t.value = strings.TrimSpace(sc.s[start:sc.pos])
			}
			if t.op == opRe {
				re, err := regexp.Compile(t.value)
				if err != nil {
					return nil, sc.errorf("bad regular expression: %v", err)
				}
				t.re = re
			}
		}
		conj = append(conj, t)
		sc.skipSpace()
		if sc.eof() {
			return conj, nil
		}
		if sc.s[sc.pos] != ',' {
			return nil, sc.errorf("expected ',' between terms")
		}
		sc.pos++
	}
}

// LabelAdaptor adapts a labels map for the path after "labels".
func LabelAdaptor(labels map[string]string, rest []string) (string, bool) {
	if len(rest) == 0 {
		return "", len(labels) > 0
	}
	v, ok := labels[strings.Join(rest, ".")]
	return v, ok
}
