package run

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-containers/berth/internal/testimage"
)

// TestCreateMergesImageLabels: a container's labels are its image's config
// labels with the --label values on top (a --label wins over an image label
// of the same key), as `berth inspect` and `ps --filter label=` show.
func TestCreateMergesImageLabels(t *testing.T) {
	d := startDaemon(t)
	img, err := testimage.Busybox(testimage.Options{Docker: true, Labels: map[string]string{
		"org.example.vendor": "berth-tests", "org.example.tier": "image"}})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(d.Dir, "labelled.tar")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := img.WriteDockerArchive(f, "labelled:latest"); err != nil {
		f.Close()
		t.Fatal(err)
	}
	f.Close()
	d.Berth("load", "-i", p)
	os.Remove(p)

	d.Berth("create", "--network", "none", "--name", "lab", "--label", "org.example.tier=user", "--label", "mine=1", "labelled", "true")
	var recs []struct {
		Labels map[string]string `json:"labels"`
	}
	raw := d.Berth("inspect", "lab")
	if err := json.Unmarshal([]byte(raw), &recs); err != nil || len(recs) != 1 {
		t.Fatalf("inspect lab: %v\n%s", err, raw)
	}
	want := map[string]string{"org.example.vendor": "berth-tests", "org.example.tier": "user", "mine": "1"}
	got := recs[0].Labels
	if len(got) != len(want) {
		t.Errorf("labels %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("label %s = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	if out := d.Berth("ps", "-a", "--filter", "label=org.example.vendor=berth-tests", "--format", "{{.Names}}"); out != "lab\n" {
		t.Errorf("ps --filter label=org.example.vendor=berth-tests: %q, want lab", out)
	}
	d.Berth("rm", "lab")
	d.RequireClean(t)
}
