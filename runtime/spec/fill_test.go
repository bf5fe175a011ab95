package spec

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// sameAsJSON decodes data with fill and with encoding/json into a fresh
// value of v's type and fails when fill succeeds with a different result, or
// succeeds where encoding/json fails.
func sameAsJSON(t *testing.T, data []byte, v any) (filled bool) {
	t.Helper()
	typ := reflect.TypeOf(v).Elem()
	want := reflect.New(typ)
	jerr := json.Unmarshal(data, want.Interface())
	got := reflect.New(typ)
	tree, terr := decodeTree(data)
	if terr != nil {
		if jerr == nil && !errors.Is(terr, errSlow) {
			t.Fatalf("the tree decoder refused what encoding/json took: %v\n%s", terr, data)
		}
		return false
	}
	ferr := fillTree(tree, data, got.Interface())
	if ferr != nil {
		if !errors.Is(ferr, errSlow) {
			t.Fatalf("fill failed with %v (only errSlow is allowed)", ferr)
		}
		return false
	}
	if jerr != nil {
		t.Fatalf("fill took what encoding/json refuses (%v):\n%s", jerr, data)
	}
	if !reflect.DeepEqual(got.Interface(), want.Interface()) {
		gj, _ := json.Marshal(got.Interface())
		wj, _ := json.Marshal(want.Interface())
		t.Fatalf("fill and encoding/json differ:\n fill %s\n json %s\ninput %s", gj, wj, data)
	}
	return true
}

// TestFillRealConfigs: the configurations Docker, Podman and containerd
// write are decoded by fill, to what encoding/json makes of them.
func TestFillRealConfigs(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.json")
	if len(files) == 0 {
		t.Fatal("no testdata configurations")
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !sameAsJSON(t, b, &specs.Spec{}) {
			t.Errorf("%s: fill left a real configuration to encoding/json", p)
		}
	}
}

// TestFillLeavesHardCases: what fill must not decode on its own.
func TestFillLeavesHardCases(t *testing.T) {
	for _, doc := range []string{
		`{"process":{"args":["a"]},"process":{"cwd":"/"}}`,     // key twice: encoding/json merges
		`{"process":{"args":["a"],"Args":["b"]}}`,              // two keys for one field
		`{"process":{"user":{"uid":1.5}}}`,                     // not an integer
		`{"process":{"user":{"uid":-1}}}`,                      // out of range
		`{"process":{"user":{"uid":4294967296}}}`,              // out of range
		`{"process":{"args":"sh"}}`,                            // wrong kind
		`{"hostname":7}`,                                       // wrong kind
		`{"process":{"terminal":"yes"}}`,                       // wrong kind
		`{"proceſs":{}}`,                                       // non-ASCII key
		`{"linux":{"seccomp":{"architectures":[1]}}} trailing`, // not one document
	} {
		if sameAsJSON(t, []byte(doc), &specs.Spec{}) {
			t.Errorf("fill decoded %s itself", doc)
		}
	}
	// Case-insensitive names, nulls and empty containers as encoding/json.
	for _, doc := range []string{
		`{"PROCESS":{"Args":["a"],"cwd":"/"},"Hostname":"h"}`,
		`{"process":null,"mounts":[],"annotations":{},"linux":{"namespaces":null,"sysctl":{"a":"b"}}}`,
		`{"root":{"path":"r","readonly":true},"process":{"user":{"uid":0,"gid":4294967295,"umask":18}}}`,
		`{"hostname":"a\"b:c","annotations":{"k:\\":"v"}}`,
	} {
		if !sameAsJSON(t, []byte(doc), &specs.Spec{}) {
			t.Errorf("fill left %s to encoding/json", doc)
		}
	}
}

// FuzzFillMatchesJSON: whatever fill decodes, encoding/json decodes the same.
func FuzzFillMatchesJSON(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"ociVersion":"1.0.2","process":{"args":["sh"],"user":{"uid":1}},"linux":{"resources":{"memory":{"limit":-1}}}}`))
	f.Add([]byte(`{"linux":{"seccomp":{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["a"],"action":"SCMP_ACT_ALLOW","args":[{"index":1,"value":2,"op":"SCMP_CMP_EQ"}]}]}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		sameAsJSON(t, data, &specs.Spec{})
	})
}
