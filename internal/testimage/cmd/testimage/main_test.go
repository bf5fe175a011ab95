package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-containers/berth/internal/testregistry"
)

func TestPushAndArchives(t *testing.T) {
	reg := testregistry.New(t, testregistry.Options{Auth: testregistry.AuthBasic, User: "u", Password: "p"})
	dir := t.TempDir()
	err := run("generated", 3, 2, "100K", "zstd", false, "linux/amd64,linux/arm64", reg.Host+"/gen:1", "", "u:p",
		filepath.Join(dir, "layout"), filepath.Join(dir, "oci.tar"), filepath.Join(dir, "docker.tar"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := reg.Manifest("gen", "1"); !ok {
		t.Fatal("not pushed")
	}
	for _, f := range []string{"layout/index.json", "oci.tar", "docker.tar"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	if err := run("busybox", 0, 0, "", "brotli", false, "", "", "", "", "", "", ""); err == nil {
		t.Fatal("bad compression accepted")
	}
	if err := run("generated", 0, 1, "12Q", "gzip", false, "", "", "", "", "", "", ""); err == nil {
		t.Fatal("bad size accepted")
	}
}
