package main

import (
	"context"
	"path/filepath"

	"github.com/berth-containers/berth/daemon"
	"github.com/berth-containers/berth/network"
	"github.com/berth-containers/berth/volume"
)

// registerServices opens the stores and adds every API service to d.
func registerServices(d *daemon.Daemon) error {
	log := d.Logger()
	st, err := daemon.OpenStores(d.Config(), log)
	if err != nil {
		return err
	}
	d.OnClose(st.Close)
	cfg := d.Config()
	vols, err := volume.New(filepath.Join(cfg.Root, "volumes"))
	if err != nil {
		return err
	}
	var net daemon.Networker
	var nets daemon.NetworkManager
	if m, err := network.New(network.Config{Root: cfg.Root, State: cfg.State, DefaultBridge: cfg.Network.DefaultBridge, DefaultSubnet: cfg.Network.DefaultSubnet, Logger: log}); err != nil {
		log.Warn("networking unavailable: only --network none and host work", "err", err)
	} else {
		net, nets = m, m
	}
	// The container store registers containers as GC roots: it must exist
	// before the collection Recover runs.
	events := daemon.NewEvents()
	cs := daemon.NewContainersService(st, cfg, log, vols, net, events)
	if err := st.Recover(context.Background(), log); err != nil {
		return err
	}
	d.AddService(daemon.NewImagesWithEvents(daemon.NewImagesService(st, log), events))
	d.AddService(daemon.NewContentService(st))
	d.AddService(daemon.NewRegistryService(st))
	d.AddService(daemon.NewGCService(st, log))

	if err := cs.Recover(context.Background()); err != nil {
		return err
	}
	d.AddService(cs)
	d.AddService(daemon.NewEventsService(events))
	d.AddService(daemon.NewNetworksService(nets))
	d.AddService(daemon.NewVolumesService(vols))
	return nil
}
