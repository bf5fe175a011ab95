package registry_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/registry"
	"github.com/berth-containers/berth/registry/hosts"
)

// A registry that requires a client certificate: trusted through
// hosts.toml's ca, authenticated through its client pair.
func TestClientCertificateFromHostsTOML(t *testing.T) {
	t.Parallel()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "berth client"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	clientCert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(clientCert)

	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"nothing here"}]}`, http.StatusNotFound)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "https://")

	dir := t.TempDir()
	hd := filepath.Join(dir, host)
	if err := os.MkdirAll(hd, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string, blocks ...*pem.Block) {
		var b []byte
		for _, bl := range blocks {
			b = append(b, pem.EncodeToMemory(bl)...)
		}
		if err := os.WriteFile(filepath.Join(hd, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	write("server-ca.pem", &pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	write("client.pem", &pem.Block{Type: "CERTIFICATE", Bytes: der})
	write("client-key.pem", &pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	toml := fmt.Sprintf("server = \"https://%s\"\nca = \"server-ca.pem\"\n", host)
	if err := os.WriteFile(filepath.Join(hd, "hosts.toml"), []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	r := registry.NewResolver(fast(registry.Options{Hosts: hosts.Config{Dir: dir}, Retries: -1}))
	_, _, err = r.Resolve(ctxT(t), host+"/x:1")
	if err == nil || errdefs.IsNotFound(err) {
		t.Fatalf("without a client certificate: %v, want a TLS failure", err)
	}
	toml += "client = [\"client.pem\", \"client-key.pem\"]\n"
	if err := os.WriteFile(filepath.Join(hd, "hosts.toml"), []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	r = registry.NewResolver(fast(registry.Options{Hosts: hosts.Config{Dir: dir}, Retries: -1}))
	if _, _, err = r.Resolve(ctxT(t), host+"/x:1"); !errdefs.IsNotFound(err) {
		t.Fatalf("with a client certificate: %v, want not found from the registry", err)
	}
}
