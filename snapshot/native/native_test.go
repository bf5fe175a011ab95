package native_test

import (
	"testing"

	"github.com/berth-containers/berth/internal/testutil"
	"github.com/berth-containers/berth/snapshot/native"
	"github.com/berth-containers/berth/snapshot/snapshottest"
)

func TestNative(t *testing.T) {
	testutil.RequireRoot(t)
	snapshottest.Run(t, native.New)
}
