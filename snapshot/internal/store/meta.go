package store

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/snapshot"
)

var (
	bucketSnapshots = []byte("snapshots") // key → record JSON
	bucketChildren  = []byte("children")  // parent \x00 child → ""
)

// record is what the backend keeps per snapshot.
type record struct {
	ID      uint64            `json:"id"`
	Kind    snapshot.Kind     `json:"kind"`
	Parent  string            `json:"parent,omitempty"`
	Labels  map[string]string `json:"labels,omitempty"`
	Created time.Time         `json:"created"`
	Updated time.Time         `json:"updated"`
	Usage   *snapshot.Usage   `json:"usage,omitempty"`
}

func (r record) info(key string) snapshot.Info {
	labels := make(map[string]string, len(r.Labels))
	for k, v := range r.Labels {
		labels[k] = v
	}
	return snapshot.Info{Kind: r.Kind, Name: key, Parent: r.Parent, Labels: labels, Created: r.Created, Updated: r.Updated}
}

func (r record) dirName() string { return strconv.FormatUint(r.ID, 10) }

func childKey(parent, child string) []byte {
	b := make([]byte, 0, len(parent)+1+len(child))
	b = append(b, parent...)
	b = append(b, 0)
	return append(b, child...)
}

func getRecord(tx *bolt.Tx, key string) (record, error) {
	var r record
	v := tx.Bucket(bucketSnapshots).Get([]byte(key))
	if v == nil {
		return r, fmt.Errorf("snapshot %q: %w", key, errdefs.ErrNotFound)
	}
	if err := json.Unmarshal(v, &r); err != nil {
		return r, fmt.Errorf("snapshot %q: decode record: %w", key, err)
	}
	return r, nil
}

func putRecord(tx *bolt.Tx, key string, r record) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketSnapshots).Put([]byte(key), v)
}

func hasChildren(tx *bolt.Tx, key string) bool {
	c := tx.Bucket(bucketChildren).Cursor()
	prefix := childKey(key, "")
	k, _ := c.Seek(prefix)
	return k != nil && len(k) >= len(prefix) && string(k[:len(prefix)]) == string(prefix)
}

// chain returns the records of key's parent, grandparent, … (top first).
func chain(tx *bolt.Tx, parent string) ([]record, error) {
	var out []record
	for p := parent; p != ""; {
		r, err := getRecord(tx, p)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
		p = r.Parent
		if len(out) > 1<<16 {
			return nil, fmt.Errorf("snapshot %q: parent chain loops", parent)
		}
	}
	return out, nil
}
