package testutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// DockerRegistryBinary is where Debian's docker-registry installs the
// distribution registry.
const DockerRegistryBinary = "/usr/bin/docker-registry"

// RegistryOptions shape a registry started by StartRegistry.
type RegistryOptions struct {
	// TLS serves HTTPS with a certificate for 127.0.0.1 and localhost,
	// signed by a CA generated for this registry.
	TLS bool
	// Htpasswd "user:password" turns on basic authentication.
	Htpasswd string
}

// Registry is a running docker-registry.
type Registry struct {
	Host     string // 127.0.0.1:port, the domain of references ("<Host>/busybox:latest")
	URL      string // scheme://Host
	CertsDir string // a certs.d directory: <Host>/ca.crt when TLS (use as hosts.Config.Dir)
	CAFile   string // the CA certificate (PEM) when TLS
	User     string // from Htpasswd
	Password string
	Root     string // the registry's storage directory
	Log      string // the registry's log file
}

// StartRegistry starts Debian's docker-registry on a free port of 127.0.0.1,
// with storage in a temp dir, and stops it (SIGTERM, then SIGKILL) and waits
// for it when the test ends. A missing binary fails the test naming the
// Debian package. With TLS, CertsDir holds the CA the way Berth's hosts
// configuration (and Docker's certs.d) expects it: a loopback registry with a
// CA there is reached over HTTPS, without one over plain HTTP.
func StartRegistry(t testing.TB, opts RegistryOptions) *Registry {
	t.Helper()
	bin := DockerRegistryBinary
	if _, err := os.Stat(bin); err != nil {
		bin = LookPath(t, "docker-registry", "docker-registry")
	}
	dir := t.TempDir()
	r := &Registry{Root: filepath.Join(dir, "storage"), CertsDir: filepath.Join(dir, "certs.d"), Log: filepath.Join(dir, "registry.log")}
	if err := os.MkdirAll(r.Root, 0o755); err != nil {
		t.Fatal(err)
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		r.Host = fmt.Sprintf("127.0.0.1:%d", port)
		if err := r.start(t, bin, dir, opts); err != nil {
			lastErr = err
			continue
		}
		return r
	}
	log, _ := os.ReadFile(r.Log)
	t.Fatalf("docker-registry did not start: %v\nlog:\n%s", lastErr, log)
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (r *Registry) start(t testing.TB, bin, dir string, opts RegistryOptions) error {
	t.Helper()
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n")
	fmt.Fprintf(&cfg, "storage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\n", r.Root)
	fmt.Fprintf(&cfg, "http:\n  addr: %s\n  secret: %s\n", r.Host, hex.EncodeToString(secret))
	client := &http.Client{Timeout: 2 * time.Second}
	r.URL = "http://" + r.Host
	if opts.TLS {
		certFile, keyFile, caFile, err := writeTLS(dir)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&cfg, "  tls:\n    certificate: %s\n    key: %s\n", certFile, keyFile)
		r.CAFile = caFile
		hostDir := filepath.Join(r.CertsDir, r.Host)
		if err := os.MkdirAll(hostDir, 0o755); err != nil {
			t.Fatal(err)
		}
		ca, err := os.ReadFile(caFile)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(hostDir, "ca.crt"), ca, 0o644); err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca)
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
		r.URL = "https://" + r.Host
	}
	if opts.Htpasswd != "" {
		user, pass, ok := strings.Cut(opts.Htpasswd, ":")
		if !ok || user == "" {
			t.Fatalf("RegistryOptions.Htpasswd %q: want user:password", opts.Htpasswd)
		}
		hash, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		hp := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(hp, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&cfg, "auth:\n  htpasswd:\n    realm: berth-test\n    path: %s\n", hp)
		r.User, r.Password = user, pass
	}
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.OpenFile(r.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logf.Close() }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("docker-registry exited: %v", err)
		default:
		}
		resp, err := client.Get(r.URL + "/v2/")
		if err == nil {
			resp.Body.Close()
			ours := resp.Header.Get("Docker-Distribution-Api-Version") == "registry/2.0"
			if ours && (resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized) {
				t.Cleanup(stop)
				return nil
			}
		}
		if time.Now().After(deadline) {
			stop()
			return fmt.Errorf("docker-registry on %s not ready after 15s: %v", r.Host, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// writeTLS generates a CA and a server certificate for 127.0.0.1, ::1 and
// localhost signed by it, and writes them (PEM) into dir.
func writeTLS(dir string) (certFile, keyFile, caFile string, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Berth test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return
	}
	certFile, keyFile, caFile = filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key"), filepath.Join(dir, "ca.pem")
	if err = os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		return
	}
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})...)
	if err = os.WriteFile(certFile, chain, 0o644); err != nil {
		return
	}
	err = os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	return
}
