package spec

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// The runtime decodes a configuration in every container start, and
// encoding/json prepares a codec for every type reachable from specs.Spec
// (Windows, VMs, every cgroup resource, ...) the first time it decodes one:
// more work than the decoding itself, paid by each short-lived process. fill
// decodes from the generic tree instead, looking only at the types the
// document uses. Anything it does not handle exactly as encoding/json would
// (custom unmarshalers, interfaces, duplicate keys, non-ASCII keys, values
// of the wrong kind, ...) makes it give up, and the caller decodes with
// encoding/json, errors and all. FuzzFillMatchesJSON holds the two to the
// same result.

// errSlow: leave this document to encoding/json.
var errSlow = errors.New("spec: document left to encoding/json")

// DecodeJSON decodes data into v (a pointer) with encoding/json's result.
func DecodeJSON(data []byte, v any) error {
	if tree, err := decodeTree(data); err == nil && fillTree(tree, data, v) == nil {
		return nil
	}
	return json.Unmarshal(data, v)
}

// decodeTree decodes a JSON document into maps, slices and json.Numbers.
func decodeTree(data []byte) (any, error) {
	var tree any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&tree); err != nil {
		return nil, err
	}
	if !onlySpace(data[dec.InputOffset():]) {
		return nil, errSlow
	}
	return tree, nil
}

// onlySpace reports whether b is JSON whitespace only.
func onlySpace(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

// fillTree stores tree, decoded from data, into v (a pointer); errSlow when
// it cannot be sure of encoding/json's result.
func fillTree(tree any, data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return errSlow
	}
	// A key given twice: encoding/json merges the two values in document
	// order, which the tree no longer shows.
	if countKeys(tree) != countColons(data) {
		return errSlow
	}
	return fill(rv.Elem(), tree)
}

func countKeys(x any) int {
	switch x := x.(type) {
	case map[string]any:
		n := len(x)
		for _, v := range x {
			n += countKeys(v)
		}
		return n
	case []any:
		n := 0
		for _, v := range x {
			n += countKeys(v)
		}
		return n
	}
	return 0
}

// countColons counts the name separators of a valid JSON document (colons
// outside strings).
func countColons(data []byte) int {
	n, inStr, esc := 0, false, false
	for _, c := range data {
		switch {
		case esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case c == '"':
			inStr = !inStr
		case !inStr && c == ':':
			n++
		}
	}
	return n
}

var (
	unmarshalerType     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

type fieldInfo struct {
	name  string
	index int
}

type structInfo struct {
	fields []fieldInfo
	slow   bool
}

var structCache sync.Map // reflect.Type -> *structInfo

func structOf(t reflect.Type) *structInfo {
	if si, ok := structCache.Load(t); ok {
		return si.(*structInfo)
	}
	si := &structInfo{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous {
			si.slow = true
			break
		}
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(","+opts+",", ",string,") || !plainName(name) {
			si.slow = true
			break
		}
		if name == "" {
			name = f.Name
		}
		si.fields = append(si.fields, fieldInfo{name: name, index: i})
	}
	structCache.Store(t, si)
	return si
}

// plainName: a tag name encoding/json takes as it is (letters, digits, "_",
// "-", "."); others leave the decoding to it.
func plainName(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// lookup finds the field for key: the exact name, else the only one equal
// under ASCII case folding.
func (si *structInfo) lookup(key string) (int, error) {
	for _, f := range si.fields {
		if f.name == key {
			return f.index, nil
		}
	}
	for i := 0; i < len(key); i++ {
		if key[i] >= 0x80 {
			return -1, errSlow
		}
	}
	for _, f := range si.fields {
		if strings.EqualFold(f.name, key) {
			return f.index, nil
		}
	}
	return -1, nil
}

func fill(v reflect.Value, x any) error {
	t := v.Type()
	if t.Kind() != reflect.Pointer && (t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) ||
		t.Implements(textUnmarshalerType) || reflect.PointerTo(t).Implements(textUnmarshalerType)) {
		return errSlow
	}
	if x == nil {
		switch t.Kind() {
		case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
			v.SetZero()
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		return fill(v.Elem(), x)
	case reflect.Struct:
		m, ok := x.(map[string]any)
		if !ok {
			return errSlow
		}
		si := structOf(t)
		if si.slow {
			return errSlow
		}
		var seen map[int]bool
		for k, val := range m {
			i, err := si.lookup(k)
			if err != nil {
				return err
			}
			if i < 0 {
				continue
			}
			if len(m) > 1 {
				if seen == nil {
					seen = make(map[int]bool, len(m))
				}
				if seen[i] {
					return errSlow // two keys for one field: order matters
				}
				seen[i] = true
			}
			if err := fill(v.Field(i), val); err != nil {
				return err
			}
		}
		return nil
	case reflect.Map:
		m, ok := x.(map[string]any)
		if !ok || t.Key().Kind() != reflect.String {
			return errSlow
		}
		if v.IsNil() {
			v.Set(reflect.MakeMapWithSize(t, len(m)))
		}
		for k, val := range m {
			ev := reflect.New(t.Elem()).Elem()
			if err := fill(ev, val); err != nil {
				return err
			}
			v.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), ev)
		}
		return nil
	case reflect.Slice:
		a, ok := x.([]any)
		if !ok || t.Elem().Kind() == reflect.Uint8 {
			return errSlow
		}
		s := reflect.MakeSlice(t, len(a), len(a))
		for i, val := range a {
			if err := fill(s.Index(i), val); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	case reflect.String:
		s, ok := x.(string)
		if !ok {
			return errSlow
		}
		v.SetString(s)
		return nil
	case reflect.Bool:
		b, ok := x.(bool)
		if !ok {
			return errSlow
		}
		v.SetBool(b)
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := x.(json.Number)
		if !ok {
			return errSlow
		}
		i, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil || v.OverflowInt(i) {
			return errSlow
		}
		v.SetInt(i)
		return nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		n, ok := x.(json.Number)
		if !ok {
			return errSlow
		}
		u, err := strconv.ParseUint(string(n), 10, 64)
		if err != nil || v.OverflowUint(u) {
			return errSlow
		}
		v.SetUint(u)
		return nil
	case reflect.Float32, reflect.Float64:
		n, ok := x.(json.Number)
		if !ok {
			return errSlow
		}
		f, err := strconv.ParseFloat(string(n), t.Bits())
		if err != nil || v.OverflowFloat(f) {
			return errSlow
		}
		v.SetFloat(f)
		return nil
	}
	return errSlow
}
