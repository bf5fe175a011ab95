package overlay_test

import (
	"testing"

	"github.com/berth-containers/berth/internal/testutil"
	"github.com/berth-containers/berth/snapshot/overlay"
	"github.com/berth-containers/berth/snapshot/snapshottest"
)

func TestOverlay(t *testing.T) {
	testutil.RequireRoot(t)
	snapshottest.Run(t, overlay.New)
}

func TestSupported(t *testing.T) {
	testutil.RequireRoot(t)
	if err := overlay.Supported(t.TempDir()); err != nil {
		t.Fatal(err)
	}
}
