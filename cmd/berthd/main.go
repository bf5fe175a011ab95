// berthd is Berth's daemon: images, snapshots, containers and tasks behind a
// gRPC API on a unix socket.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/berth-containers/berth/daemon"
	"github.com/berth-containers/berth/internal/version"
)

const defaultConfigPath = "/etc/berth/config.toml"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "config" {
		if len(os.Args) > 2 && os.Args[2] == "default" {
			fmt.Print(daemon.DefaultConfigTOML())
			return
		}
		fmt.Fprintln(os.Stderr, "usage: berthd config default")
		os.Exit(2)
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "berthd:", err)
		os.Exit(1)
	}
}

func run() error {
	fs := flag.NewFlagSet("berthd", flag.ContinueOnError)
	configPath := fs.String("config", defaultConfigPath, "configuration file (TOML)")
	root := fs.String("root", "", "persistent state directory (default /var/lib/berth)")
	state := fs.String("state", "", "runtime state directory (default /run/berth)")
	address := fs.String("address", "", "API socket (default /run/berth/berthd.sock)")
	logLevel := fs.String("log-level", "", "debug, info, warn or error")
	logFormat := fs.String("log-format", "", "text or json")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return err
	}
	if *showVersion {
		fmt.Println("berthd", version.Version)
		return nil
	}
	explicit := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "config" {
			explicit = true
		}
	})
	cfg, err := daemon.LoadConfig(*configPath, explicit)
	if err != nil {
		return err
	}
	for _, o := range []struct {
		dst *string
		v   string
	}{{&cfg.Root, *root}, {&cfg.State, *state}, {&cfg.Address, *address}, {&cfg.LogLevel, *logLevel}, {&cfg.LogFormat, *logFormat}} {
		if o.v != "" {
			*o.dst = o.v
		}
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := newLogger(cfg)
	d, err := daemon.New(cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := registerServices(d); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return d.Serve(ctx)
}

func newLogger(cfg daemon.Config) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
