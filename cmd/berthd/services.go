package main

import (
	"context"

	"github.com/berth-containers/berth/daemon"
)

// registerServices opens the stores and adds every API service to d.
func registerServices(d *daemon.Daemon) error {
	log := d.Logger()
	st, err := daemon.OpenStores(d.Config(), log)
	if err != nil {
		return err
	}
	d.OnClose(st.Close)
	if err := st.Recover(context.Background(), log); err != nil {
		return err
	}
	d.AddService(daemon.NewImagesService(st, log))
	d.AddService(daemon.NewContentService(st))
	d.AddService(daemon.NewRegistryService(st))
	d.AddService(daemon.NewGCService(st, log))
	return nil
}
