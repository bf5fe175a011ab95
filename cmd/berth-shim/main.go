// Command berth-shim is the per-container parent process: see package shim.
// It is started by the daemon (shim/client.Start), never by hand:
//
//	berth-shim -state-dir DIR [-ready-fd N] [-debug]
//	berth-shim -version
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/berth-containers/berth/internal/version"
	"github.com/berth-containers/berth/shim"
)

func main() {
	stateDir := flag.String("state-dir", "", "the container's shim state directory (holds shim.json)")
	readyFd := flag.Int("ready-fd", -1, "file descriptor to write \"ok\" (or an error) to once serving")
	debugLog := flag.Bool("debug", false, "debug logging")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println("berth-shim", version.Version)
		return
	}
	// One container needs little: one P, a tight GC, a soft memory limit.
	runtime.GOMAXPROCS(1)
	debug.SetGCPercent(50)
	debug.SetMemoryLimit(8 << 20)
	for _, k := range []string{"GOMAXPROCS", "GOGC", "GOMEMLIMIT"} {
		os.Unsetenv(k)
	}
	level := slog.LevelInfo
	if *debugLog {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	var ready *os.File
	if *readyFd >= 0 {
		ready = os.NewFile(uintptr(*readyFd), "ready")
	}
	fail := func(err error) {
		if ready != nil {
			fmt.Fprint(ready, err.Error())
			ready.Close()
		}
		log.Error("berth-shim", "err", err)
		os.Exit(1)
	}
	if *stateDir == "" {
		fail(fmt.Errorf("-state-dir: missing"))
	}
	cfg, err := shim.ReadConfig(*stateDir)
	if err != nil {
		fail(err)
	}
	log = log.With("id", cfg.ID)
	var rw interface {
		Write([]byte) (int, error)
		Close() error
	}
	if ready != nil {
		rw = ready
	}
	if err := shim.Run(context.Background(), *cfg, log, rw); err != nil {
		log.Error("berth-shim", "err", err)
		os.Exit(1)
	}
}
