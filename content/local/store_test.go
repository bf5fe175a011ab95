package local

import (
	"context"
	"testing"

	"github.com/berth-containers/berth/content"
	"github.com/berth-containers/berth/content/contenttest"
)

func TestSuite(t *testing.T) {
	contenttest.Run(t, func(t *testing.T) (context.Context, content.Store) {
		cs, err := NewStore(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return context.Background(), cs
	})
}
