package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/berth-containers/berth/internal/testimage"
	"github.com/berth-containers/berth/registry"
	"github.com/berth-containers/berth/registry/auth"
	"github.com/berth-containers/berth/registry/hosts"
	"github.com/berth-containers/berth/registry/platforms"
)

func parseSize(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, strings.TrimSuffix(s, "G")
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, strings.TrimSuffix(s, "K")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("-size %q: want a number with an optional K, M or G suffix", s)
	}
	return n * mult, nil
}

func main() {
	kind := flag.String("kind", "busybox", "busybox or generated")
	seed := flag.Uint64("seed", 1, "seed of a generated image")
	layers := flag.Int("layers", 4, "layers of a generated image")
	size := flag.String("size", "16M", "total file bytes of a generated image (K, M, G suffixes)")
	comp := flag.String("compression", "gzip", "gzip, zstd or none")
	docker := flag.Bool("docker", false, "Docker schema2 media types instead of OCI")
	plats := flag.String("platforms", "", "comma-separated platforms for an index (e.g. linux/amd64,linux/arm64)")
	ref := flag.String("ref", "", "push to this reference (e.g. 127.0.0.1:5000/busybox:latest)")
	certs := flag.String("certs-dir", "", "certs.d directory for the push (hosts.toml, ca.crt)")
	user := flag.String("user", "", "user:password for the registry")
	layout := flag.String("oci-layout", "", "write an OCI image layout into this directory")
	ociTar := flag.String("oci-archive", "", "write an OCI layout tar to this file")
	dockerTar := flag.String("docker-archive", "", "write a docker-archive tar to this file")
	flag.Parse()
	if err := run(*kind, *seed, *layers, *size, *comp, *docker, *plats, *ref, *certs, *user, *layout, *ociTar, *dockerTar); err != nil {
		fmt.Fprintln(os.Stderr, "testimage:", err)
		os.Exit(1)
	}
}

func run(kind string, seed uint64, layers int, size, comp string, docker bool, plats, ref, certs, user, layout, ociTar, dockerTar string) error {
	o := testimage.Options{Docker: docker}
	switch comp {
	case "gzip":
		o.Compression = testimage.Gzip
	case "zstd":
		o.Compression = testimage.Zstd
	case "none":
		o.Compression = testimage.Uncompressed
	default:
		return fmt.Errorf("-compression %q: want gzip, zstd or none", comp)
	}
	if plats != "" {
		for _, s := range strings.Split(plats, ",") {
			p, err := platforms.Parse(s)
			if err != nil {
				return err
			}
			o.Platforms = append(o.Platforms, p)
		}
	}
	start := time.Now()
	var img *testimage.Image
	var err error
	switch kind {
	case "busybox":
		img, err = testimage.Busybox(o)
	case "generated":
		var n int64
		if n, err = parseSize(size); err == nil {
			img, err = testimage.Generated(seed, layers, n, o)
		}
	default:
		err = fmt.Errorf("-kind %q: want busybox or generated", kind)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "built %s: %d blobs, %d bytes, root %s in %s\n", kind, len(img.Blobs), img.Size(), img.Root.Digest, time.Since(start).Round(time.Millisecond))
	if layout != "" {
		if err := img.WriteOCILayout(layout, ref); err != nil {
			return err
		}
	}
	for _, out := range []struct {
		path  string
		write func(f *os.File) error
	}{
		{ociTar, func(f *os.File) error { return img.WriteOCIArchive(f, ref) }},
		{dockerTar, func(f *os.File) error {
			if ref == "" {
				return img.WriteDockerArchive(f)
			}
			return img.WriteDockerArchive(f, ref)
		}},
	} {
		if out.path == "" {
			continue
		}
		f, err := os.Create(out.path)
		if err != nil {
			return err
		}
		if err := out.write(f); err != nil {
			f.Close()
			os.Remove(out.path)
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	if ref != "" {
		opts := registry.Options{Hosts: hosts.Config{Dir: certs}}
		if user != "" {
			u, p, _ := strings.Cut(user, ":")
			n, err := registry.Endpoints(ref, opts.Hosts)
			if err != nil {
				return err
			}
			opts.Credentials = auth.Static{n[len(n)-1].Upstream: {Username: u, Password: p}}
		}
		start = time.Now()
		if err := img.PushTo(context.Background(), registry.NewResolver(opts), ref); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "pushed %s in %s\n", ref, time.Since(start).Round(time.Millisecond))
	}
	fmt.Println(img.Root.Digest)
	return nil
}
