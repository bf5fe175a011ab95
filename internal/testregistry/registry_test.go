package testregistry

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
)

func do(t *testing.T, method, url string, body string, hdr map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestProtocol(t *testing.T) {
	r := New(t, Options{})
	blob := "hello, registry"
	d := digest.FromString(blob)
	// Chunked upload with an out-of-order chunk refused.
	resp := do(t, http.MethodPost, r.URL+"/v2/a/b/blobs/uploads/", "", nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST: %s", resp.Status)
	}
	loc := r.URL + resp.Header.Get("Location")
	if resp = do(t, http.MethodPatch, loc, blob[:5], map[string]string{"Content-Range": "0-4"}); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("PATCH: %s", resp.Status)
	}
	if resp = do(t, http.MethodPatch, loc, blob[5:], map[string]string{"Content-Range": "9-20"}); resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Fatalf("out-of-order PATCH: %s", resp.Status)
	}
	if resp = do(t, http.MethodPut, loc+"&digest="+digest.FromString("other").String(), blob[5:], nil); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("PUT with a wrong digest: %s", resp.Status)
	}
	resp = do(t, http.MethodPost, r.URL+"/v2/a/b/blobs/uploads/?digest="+d.String(), blob, nil)
	if resp.StatusCode != http.StatusCreated || !r.HasBlob("a/b", d) {
		t.Fatalf("monolithic POST: %s", resp.Status)
	}
	// Range.
	resp = do(t, http.MethodGet, r.URL+"/v2/a/b/blobs/"+d.String(), "", map[string]string{"Range": "bytes=7-"})
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusPartialContent || string(b) != blob[7:] {
		t.Fatalf("Range: %s %q", resp.Status, b)
	}
	// Mount from a repository without the blob starts an upload instead.
	if resp = do(t, http.MethodPost, r.URL+"/v2/c/blobs/uploads/?mount="+d.String()+"&from=nowhere", "", nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("mount from nowhere: %s", resp.Status)
	}
	if resp = do(t, http.MethodPost, r.URL+"/v2/c/blobs/uploads/?mount="+d.String()+"&from=a/b", "", nil); resp.StatusCode != http.StatusCreated || !r.HasBlob("c", d) {
		t.Fatalf("mount: %s", resp.Status)
	}
	// Tags.
	r.PutManifest("a/b", "v2", "application/json", []byte(`{}`))
	r.PutManifest("a/b", "v1", "application/json", []byte(`{"x":1}`))
	resp = do(t, http.MethodGet, r.URL+"/v2/a/b/tags/list", "", nil)
	var tags struct{ Tags []string }
	if err := json.NewDecoder(resp.Body).Decode(&tags); err != nil || strings.Join(tags.Tags, ",") != "v1,v2" {
		t.Fatalf("tags: %v %v", tags, err)
	}
	if resp = do(t, http.MethodGet, r.URL+"/v2/zzz/tags/list", "", nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("tags of an unknown repo: %s", resp.Status)
	}
}

func TestFaultsAndClose(t *testing.T) {
	r := Start(Options{})
	f := r.AddFault(&Fault{Method: http.MethodGet, Path: "^/v2/$", Status: http.StatusTeapot, Times: 1})
	if resp := do(t, http.MethodGet, r.URL+"/v2/", "", nil); resp.StatusCode != http.StatusTeapot {
		t.Fatalf("fault: %s", resp.Status)
	}
	if resp := do(t, http.MethodGet, r.URL+"/v2/", "", nil); resp.StatusCode != http.StatusOK || f.Hits(r) != 1 {
		t.Fatalf("after the fault: %s, hits %d", resp.Status, f.Hits(r))
	}
	r.AddFault(&Fault{Hang: true})
	done := make(chan error, 1)
	go func() {
		_, err := http.Get(r.URL + "/v2/")
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	r.Close() // releases the hanging request
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not release a hanging request")
	}
}
