package spec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-containers/berth/internal/errdefs"
)

// ConfigName is the bundle's configuration file.
const ConfigName = "config.json"

// Load reads bundle/config.json, decodes it strictly (an unknown field is an
// error naming its JSON path) and validates it with Validate. Errors wrap
// errdefs.ErrInvalidArgument (bad content) or errdefs.ErrNotFound (no file).
func Load(bundle string) (*specs.Spec, error) {
	p := filepath.Join(bundle, ConfigName)
	data, err := os.ReadFile(p)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("bundle %s: %s missing: %w", bundle, ConfigName, errdefs.ErrNotFound)
		}
		return nil, fmt.Errorf("bundle %s: read %s: %w", bundle, ConfigName, err)
	}
	s, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if err := Validate(s, bundle); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return s, nil
}

// Parse decodes a config.json document strictly without validating it.
func Parse(data []byte) (*specs.Spec, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var s specs.Spec
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("decode: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	return &s, nil
}
