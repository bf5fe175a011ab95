package images

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-containers/berth/internal/testimage"
	"github.com/berth-containers/berth/internal/testregistry"
	"github.com/berth-containers/berth/internal/testutil"
	"github.com/berth-containers/berth/registry/auth"
)

// TestPullErrors: registry faults and hostile images give clear errors,
// a non-zero exit, no image and nothing on disk.
func TestPullErrors(t *testing.T) {
	d := startDaemon(t, "")
	reg := testregistry.New(t, testregistry.Options{})
	img := busybox(t)
	reg.Seed("busybox", "latest", img.Blobs, img.Root, img.Manifests...)
	good := reg.Host + "/busybox:latest"

	// A layer with an entry climbing out of the root.
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	tw.WriteHeader(&tar.Header{Name: "../../../escaped", Mode: 0o644, Size: 4, Typeflag: tar.TypeReg})
	tw.Write([]byte("evil"))
	tw.Close()
	layer := tb.Bytes()
	ld := reg.PutBlob("hostile", layer)
	cfg, _ := json.Marshal(ocispec.Image{Platform: testimage.HostPlatform(), RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromBytes(layer)}}})
	cd := reg.PutBlob("hostile", cfg)
	m, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: cd, Size: int64(len(cfg))},
		Layers: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayer, Digest: ld, Size: int64(len(layer))}}})
	reg.PutManifest("hostile", "latest", ocispec.MediaTypeImageManifest, m)

	for _, tc := range []struct {
		name  string
		ref   string
		fault *testregistry.Fault
		want  []string
	}{
		{"unknown tag", reg.Host + "/busybox:missing", nil, []string{"not found", "busybox:missing"}},
		{"unknown repository", reg.Host + "/nothing:latest", nil, []string{"not found"}},
		{"bad reference", "bad ref!", nil, []string{"bad ref!"}},
		{"registry 500", good, &testregistry.Fault{Path: "/blobs/", Status: 500}, []string{"500"}},
		{"registry 429", good, &testregistry.Fault{Path: "/manifests/", Status: 429}, []string{"429"}},
		{"hostile layer", reg.Host + "/hostile:latest", nil, []string{"..", "layer 0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg.ClearFaults()
			if tc.fault != nil {
				reg.AddFault(tc.fault)
			}
			out, stderr, err := d.berthErr("pull", tc.ref)
			var ee *exec.ExitError
			if err == nil || !errorsAs(err, &ee) || ee.ExitCode() == 0 {
				t.Fatalf("pull %s: err %v, want a non-zero exit\nstdout: %s", tc.ref, err, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q does not mention %q", stderr, w)
				}
			}
			if !strings.HasPrefix(stderr, "Error: ") {
				t.Errorf("stderr %q: want docker's \"Error: …\" form", stderr)
			}
			if imgs := listImages(t, d); len(imgs) != 0 {
				t.Errorf("images after a failed pull: %+v", imgs)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(d.root, "..", "escaped")); err == nil {
		t.Error("the hostile layer wrote outside its snapshot")
	}
	d.berth("gc")
	if left := d.leftovers(); len(left) != 0 {
		t.Fatalf("failed pulls left files after gc: %v", left)
	}
	reg.ClearFaults()
	d.berth("pull", good)
}

func errorsAs(err error, target **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	if ok {
		*target = e
	}
	return ok
}

// TestTLSAndBasicAuth: a docker-registry over TLS with a generated CA (in
// the daemon's certs.d) and htpasswd auth: 401 before login, pull after,
// logout forgets.
func TestTLSAndBasicAuth(t *testing.T) {
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{TLS: true, Htpasswd: "berth:s3cret"})
	d := startDaemon(t, "[registry]\nconfig_path = \""+reg.CertsDir+"\"\n")
	img := busybox(t)
	ref := reg.Host + "/private/busybox:latest"
	pushImage(t, img, ref, reg.CertsDir, auth.Static{reg.Host: {Username: reg.User, Password: reg.Password}})

	_, stderr, err := d.berthErr("pull", ref)
	if err == nil || !strings.Contains(strings.ToLower(stderr), "unauthorized") && !strings.Contains(stderr, "401") {
		t.Fatalf("pull before login: err %v, stderr %q; want 401/unauthorized", err, stderr)
	}
	_, stderr, err = d.berthErr("login", "-u", "berth", "-p", "wrong", reg.Host)
	if err == nil {
		t.Fatalf("login with a wrong password succeeded")
	}
	cmd := exec.Command(testutil.Binary(t, "berth"), "--address", d.addr, "login", "-u", "berth", "--password-stdin", reg.Host)
	cmd.Stdin = strings.NewReader("s3cret\n")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "Login Succeeded") {
		t.Fatalf("login: %v\n%s", err, out)
	}
	authFile := filepath.Join(d.root, "auth", "config.json")
	if st, err := os.Stat(authFile); err != nil || st.Mode().Perm()&0o077 != 0 {
		t.Fatalf("credentials file %s: %v %v (want private)", authFile, st, err)
	}
	mustContain(t, "pull", d.berth("pull", ref), "Digest: "+img.Root.Digest.String())
	mustContain(t, "registry resolve", d.berth("registry", "resolve", ref), "https://"+reg.Host+"/v2")
	mustContain(t, "logout", d.berth("logout", reg.Host), "Removing login credentials")
	d.berth("rmi", ref)
	if _, _, err := d.berthErr("pull", ref); err == nil {
		t.Fatal("pull after logout succeeded")
	}
}

// TestOneDaemonPerRootAndSIGTERM: a second berthd on the same root fails
// naming the holder's pid; SIGTERM stops the first cleanly (exit 0, socket
// removed), after which the root can be used again.
func TestOneDaemonPerRootAndSIGTERM(t *testing.T) {
	d := startDaemon(t, "")
	second := exec.Command(testutil.Binary(t, "berthd"), "--root", d.root, "--state", d.state+"2", "--address", d.addr+"2", "--config", d.config)
	out, err := second.CombinedOutput()
	if err == nil {
		t.Fatalf("a second berthd on the same root started:\n%s", out)
	}
	pid := strings.TrimSpace(strings.Fields(strings.SplitAfter(string(out), "pid ")[1])[0])
	if !strings.Contains(string(out), "in use by another berthd") || strings.TrimRight(pid, "):") != itoa(d.cmd.Process.Pid) {
		t.Fatalf("second berthd: %q; want it to name pid %d", out, d.cmd.Process.Pid)
	}
	if err := d.stop(); err != nil {
		t.Fatalf("berthd exit after SIGTERM: %v\n%s", err, d.log)
	}
	if _, err := os.Stat(d.addr); err == nil {
		t.Error("socket left after shutdown")
	}
	mustContain(t, "daemon log", d.log.String(), "shutting down")
	d.start()
	d.berth("version")
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

// TestKillDuringPull: berthd is SIGKILLed while a pull downloads; after a
// restart the same pull completes, and neither the check nor rmi+gc finds
// anything left over.
func TestKillDuringPull(t *testing.T) {
	d := startDaemon(t, "")
	reg := testregistry.New(t, testregistry.Options{})
	img, err := testimage.Generated(11, 3, 6<<20, testimage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg.Seed("big", "latest", img.Blobs, img.Root, img.Manifests...)
	ref := reg.Host + "/big:latest"
	slow := reg.AddFault(&testregistry.Fault{Path: "/blobs/sha256:", BytesPerSecond: 512 << 10})

	pull := exec.Command(testutil.Binary(t, "berth"), "--address", d.addr, "pull", ref)
	var pullOut bytes.Buffer
	pull.Stdout, pull.Stderr = &pullOut, &pullOut
	if err := pull.Start(); err != nil {
		t.Fatal(err)
	}
	pullDone := make(chan error, 1)
	go func() { pullDone <- pull.Wait() }()
	t.Cleanup(func() { pull.Process.Kill(); <-pullDone })

	// Wait until layer data is being ingested, then kill the daemon.
	deadline := time.Now().Add(30 * time.Second)
	for ingested(d.root) < 256<<10 {
		if time.Now().After(deadline) {
			t.Fatalf("no ingest progress within 30s:\n%s\n%s", pullOut.String(), d.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	d.kill()
	select {
	case err := <-pullDone:
		pullDone <- err
		if err == nil {
			t.Fatalf("pull succeeded although berthd was killed:\n%s", pullOut.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("berth pull did not end after berthd died")
	}
	if slow.Hits(reg) == 0 {
		t.Fatal("the slow fault never applied")
	}

	reg.ClearFaults()
	before := len(reg.Requests())
	d.start()
	mustContain(t, "pull after restart", d.berth("pull", ref), "Digest: "+img.Root.Digest.String())
	resumed := 0
	for _, r := range reg.Requests()[before:] {
		if r.Range != "" {
			resumed++
		}
	}
	if resumed == 0 {
		t.Error("the pull after the restart resumed no download (no Range request)")
	}
	mustContain(t, "check", d.berth("system", "check", "--all-ingests"), "no orphans")
	if imgs := listImages(t, d); !imgs[ref].Unpacked {
		t.Fatalf("images after restart: %+v", imgs)
	}
	d.berth("rmi", ref)
	if left := d.leftovers(); len(left) != 0 {
		t.Fatalf("rmi + gc after the killed pull left: %v", left)
	}
	mustContain(t, "check", d.berth("system", "check", "--all-ingests"), "no orphans")
}

// ingested sums the bytes in the content store's ingests.
func ingested(root string) int64 {
	var n int64
	filepath.WalkDir(filepath.Join(root, "content", "ingest"), func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() && e.Name() == "data" {
			if st, err := e.Info(); err == nil {
				n += st.Size()
			}
		}
		return nil
	})
	return n
}

var _ = syscall.SIGKILL
