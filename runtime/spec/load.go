package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-containers/berth/internal/errdefs"
)

// ConfigName is the bundle's configuration file.
const ConfigName = "config.json"

// maxConfigSize bounds config.json; real ones are a few tens of KiB.
const maxConfigSize = 16 << 20

// Load reads bundle/config.json, decodes it (syntax and type errors name the
// line, column and JSON path) and validates it with Validate. Unknown fields
// are not errors (the runtime-spec's extensibility rule: they MUST be
// ignored); LoadWithWarnings also returns their JSON paths, for the caller's
// log. Errors wrap errdefs.ErrInvalidArgument (bad content) or
// errdefs.ErrNotFound (no file).
func Load(bundle string) (*specs.Spec, error) {
	s, _, err := LoadWithWarnings(bundle)
	return s, err
}

// LoadWithWarnings is Load that also returns the JSON paths of the unknown
// fields it ignored.
func LoadWithWarnings(bundle string) (*specs.Spec, []string, error) {
	s, _, unknown, err := LoadDocument(bundle)
	return s, unknown, err
}

// LoadDocument is LoadWithWarnings that also returns config.json's content.
func LoadDocument(bundle string) (*specs.Spec, []byte, []string, error) {
	p := filepath.Join(bundle, ConfigName)
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, nil, fmt.Errorf("bundle %s: %s not found: %w", bundle, ConfigName, errdefs.ErrNotFound)
		}
		return nil, nil, nil, fmt.Errorf("bundle %s: open %s: %v: %w", bundle, ConfigName, err, errdefs.ErrInvalidArgument)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(f, maxConfigSize+1)); err != nil {
		return nil, nil, nil, fmt.Errorf("%s: read: %v: %w", p, err, errdefs.ErrInvalidArgument)
	}
	if buf.Len() > maxConfigSize {
		return nil, nil, nil, fmt.Errorf("%s: larger than %d bytes: %w", p, maxConfigSize, errdefs.ErrInvalidArgument)
	}
	s, unknown, err := ParseWithWarnings(buf.Bytes())
	if err != nil {
		return nil, nil, unknown, fmt.Errorf("%s: %w", p, err)
	}
	if err := Validate(s, bundle); err != nil {
		return nil, nil, unknown, fmt.Errorf("%s: %w", p, err)
	}
	return s, buf.Bytes(), unknown, nil
}

// Parse decodes a config.json document without validating it: syntax errors
// give line and column, type errors the JSON path. Unknown fields are
// ignored; ParseStrict rejects them.
func Parse(data []byte) (*specs.Spec, error) {
	s, _, err := ParseWithWarnings(data)
	return s, err
}

// ParseStrict is Parse where an unknown field (anywhere, matched
// case-sensitively) is an error naming its JSON path.
func ParseStrict(data []byte) (*specs.Spec, error) {
	s, unknown, err := ParseWithWarnings(data)
	if err != nil {
		return nil, err
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("%s: unknown field: %w", unknown[0], errdefs.ErrInvalidArgument)
	}
	return s, nil
}

// ParseWithWarnings is Parse that also returns the JSON paths of unknown
// fields, in document order of their parents and sorted within an object.
func ParseWithWarnings(data []byte) (*specs.Spec, []string, error) {
	var tree any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&tree); err != nil {
		return nil, nil, syntaxError(data, err)
	}
	if !onlySpace(data[dec.InputOffset():]) {
		off := dec.InputOffset()
		line, col := lineCol(data, off)
		return nil, nil, fmt.Errorf("config: unexpected data after the JSON document at line %d, column %d (offset %d): %w", line, col, off, errdefs.ErrInvalidArgument)
	}
	if _, ok := tree.(map[string]any); !ok {
		return nil, nil, fmt.Errorf("config: the document must be a JSON object, not %s: %w", jsonKind(tree), errdefs.ErrInvalidArgument)
	}
	var unknown []string
	unknownFields(tree, reflect.TypeOf(specs.Spec{}), "", &unknown)
	var s specs.Spec
	if fillTree(tree, data, &s) == nil {
		return &s, unknown, nil
	}
	s = specs.Spec{}
	if err := json.Unmarshal(data, &s); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			field := te.Field
			if field == "" {
				field = "config"
			}
			line, col := lineCol(data, te.Offset)
			return nil, unknown, fmt.Errorf("%s: expected %s, found JSON %s (line %d, column %d): %w", field, typeName(te.Type), te.Value, line, col, errdefs.ErrInvalidArgument)
		}
		return nil, unknown, fmt.Errorf("config: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	return &s, unknown, nil
}

func syntaxError(data []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col := lineCol(data, se.Offset)
		return fmt.Errorf("config: malformed JSON at line %d, column %d (offset %d): %v: %w", line, col, se.Offset, se, errdefs.ErrInvalidArgument)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "unexpected EOF") {
		return fmt.Errorf("config: malformed JSON: document is empty or truncated: %w", errdefs.ErrInvalidArgument)
	}
	return fmt.Errorf("config: malformed JSON: %v: %w", err, errdefs.ErrInvalidArgument)
}

// lineCol converts a byte offset (errors point just past the bad byte) to a
// 1-based line and column.
func lineCol(data []byte, off int64) (int, int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	if off < 0 {
		off = 0
	}
	line, col := 1, 1
	for _, c := range data[:off] {
		if c == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	if col > 1 {
		col--
	}
	return line, col
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}

func typeName(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer (" + t.Kind().String() + ")"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "a non-negative integer (" + t.Kind().String() + ")"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Ptr:
		return typeName(t.Elem())
	}
	return t.String()
}

// jsonFields lists a struct type's JSON field names (embedded structs flattened).
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if sf.Anonymous && name == "" {
			et := sf.Type
			if et.Kind() == reflect.Ptr {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				for k, v := range jsonFields(et) {
					out[k] = v
				}
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		out[name] = sf.Type
	}
	return out
}

// unknownFields walks the decoded tree along Go type t and appends the JSON
// path of every object key t has no field for. encoding/json matches keys
// case-insensitively; this walk does not, so "OCIVersion" is reported.
func unknownFields(v any, t reflect.Type, path string, out *[]string) {
	for t.Kind() == reflect.Ptr {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return // type errors are reported by the decoder
		}
		fields := jsonFields(t)
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := joinPath(path, k)
			ft, ok := fields[k]
			if !ok {
				if len(*out) < 100 {
					*out = append(*out, p)
				}
				continue
			}
			unknownFields(obj[k], ft, p, out)
		}
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			return
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			unknownFields(obj[k], t.Elem(), fmt.Sprintf("%s[%q]", path, k), out)
		}
	case reflect.Slice, reflect.Array:
		arr, ok := v.([]any)
		if !ok {
			return
		}
		for i, e := range arr {
			unknownFields(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), out)
		}
	}
}

func joinPath(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}
