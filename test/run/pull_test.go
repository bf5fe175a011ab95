package run

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/berth-containers/berth/internal/testimage"
	"github.com/berth-containers/berth/internal/testutil"
	"github.com/berth-containers/berth/registry"
	"github.com/berth-containers/berth/registry/hosts"
)

// TestRunPullsMissingImage: `berth run` of an image the daemon lacks pulls
// it from the registry first, as docker does.
func TestRunPullsMissingImage(t *testing.T) {
	d := startDaemon(t)
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	img, err := testimage.Busybox(testimage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ref := reg.Host + "/library/busybox:latest"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := img.PushTo(ctx, registry.NewResolver(registry.Options{Hosts: hosts.Config{Dir: reg.CertsDir}}), ref); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	out, errOut, err := d.BerthErr("run", "--rm", "--network", "none", ref, "echo", "pulled and ran")
	if err != nil || out != "pulled and ran\n" || !strings.Contains(errOut, "Unable to find image") {
		t.Fatalf("run of a missing image: %v\nstdout %q\nstderr %q\n%s", err, out, errOut, d.LogText())
	}
	if images := d.Berth("images"); !strings.Contains(images, reg.Host+"/library/busybox") {
		t.Fatalf("image not kept after the pull:\n%s", images)
	}
	d.RequireClean(t)
}
