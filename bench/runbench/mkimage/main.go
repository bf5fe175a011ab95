// Command mkimage writes the busybox test image (internal/testimage, from
// Debian's busybox-static) as a docker-archive tar tagged busybox:latest, so
// bench/runbench/run.sh can load the same bytes into berthd and dockerd
// without a registry. It is a benchmark tool and talks to no daemon.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/berth-containers/berth/internal/testimage"
)

func main() {
	out := flag.String("o", "busybox.tar", "docker-archive tar to write")
	tag := flag.String("tag", "busybox:latest", "image name in the tar")
	flag.Parse()
	if err := write(*out, *tag); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func write(out, tag string) error {
	img, err := testimage.Busybox(testimage.Options{Docker: true})
	if err != nil {
		return err
	}
	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := img.WriteDockerArchive(f, tag); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", out, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, out)
}
