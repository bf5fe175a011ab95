package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/berth-containers/berth/internal/version"
	"github.com/berth-containers/berth/runtime/spec"
)

func versionString() string { return version.Version }

func cmdSpec(g *globals, args []string) (int, error) {
	fs := newFlags("spec")
	bundle := fs.String("bundle", "", "directory to write config.json in")
	fs.StringVar(bundle, "b", "", "directory to write config.json in")
	rootless := fs.Bool("rootless", false, "a spec for a rootless container")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return 1, err
	}
	if err := needArgs("spec", pos, 0, 0, "[--bundle DIR] [--rootless]"); err != nil {
		return 1, err
	}
	s := spec.Default(*rootless, uint32(os.Geteuid()), uint32(os.Getegid()))
	b, err := json.MarshalIndent(s, "", "\t")
	if err != nil {
		return 1, err
	}
	p := filepath.Join(*bundle, spec.ConfigName)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return 1, fmt.Errorf("file %s exists: remove it first", p)
		}
		return 1, fmt.Errorf("spec: %w", err)
	}
	_, err = f.Write(append(b, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(p)
		return 1, fmt.Errorf("spec: write %s: %w", p, err)
	}
	return 0, nil
}
