package imagetest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/gate"
)

// RegistryPath is the registry StartRegistry runs (Debian's
// docker-registry, distribution v2.8).
const RegistryPath = "/usr/bin/docker-registry"

// RegistryOptions choose how a test registry authenticates and listens.
type RegistryOptions struct {
	// Auth is "" (anyone may pull and push), "htpasswd" (basic auth) or
	// "token" (bearer tokens from a token server in the test process,
	// which gives anonymous callers tokens that grant nothing, as Docker
	// Hub does for private repositories).
	Auth string
	// Username and Password of the one user; default "berth" and
	// "berth-secret" when Auth is set.
	Username, Password string
	// TLS serves HTTPS with a self-signed certificate for 127.0.0.1.
	TLS bool
}

// Registry is a running docker-registry.
type Registry struct {
	// Host is "127.0.0.1:port".
	Host string
	// Username and Password are the user's, when Auth is set.
	Username, Password string
	// CACert is the PEM file of the certificate to trust, when TLS; it is
	// CertsDir/Host/ca.crt.
	CACert string
	// CertsDir is a docker certs.d directory for the registry, when TLS.
	CertsDir string
	// TokenURL is the token server's realm, when Auth is "token".
	TokenURL string
	// Root is the storage directory of a berth registry.
	Root string

	tls     bool
	certPEM []byte
	tokens  atomic.Int64
	// Of the running process, for Kill and Restart.
	name string
	argv []string
	pool *x509.CertPool
	stop func()
	logs *lockedBuffer
}

// TokenRequests counts the requests the token server answered with a token.
func (r *Registry) TokenRequests() int { return int(r.tokens.Load()) }

// URL is the registry's base URL (scheme and host).
func (r *Registry) URL() string {
	if r.tls {
		return "https://" + r.Host
	}
	return "http://" + r.Host
}

// StartRegistry starts a docker-registry on a free port of 127.0.0.1 with
// its storage in a temporary directory, waits until it answers, and stops
// it when the test ends. It skips the test when docker-registry (or, for
// htpasswd auth, htpasswd) is missing.
func StartRegistry(t testing.TB, o RegistryOptions) *Registry {
	t.Helper()
	gate.Path(t, RegistryPath, "a registry to pull from; Debian's docker-registry")
	dir := t.TempDir()
	r := &Registry{tls: o.TLS}
	var auth string
	switch o.Auth {
	case "":
	case "htpasswd", "token":
		r.Username, r.Password = o.Username, o.Password
		if r.Username == "" {
			r.Username, r.Password = "berth", "berth-secret"
		}
	default:
		t.Fatalf("imagetest: unknown registry auth %q", o.Auth)
	}
	switch o.Auth {
	case "htpasswd":
		htpasswd := gate.Command(t, "htpasswd")
		out, err := exec.Command(htpasswd, "-Bbn", r.Username, r.Password).Output()
		if err != nil {
			t.Fatalf("htpasswd: %v", err)
		}
		p := filepath.Join(dir, "htpasswd")
		writeFile(t, p, out)
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: berth-test\n    path: %s\n", p)
	case "token":
		ts := newTokenServer(t, r)
		bundle := filepath.Join(dir, "token-ca.pem")
		writeFile(t, bundle, ts.certPEM)
		r.TokenURL = ts.srv.URL + "/token"
		auth = fmt.Sprintf("auth:\n  token:\n    realm: %s\n    service: %s\n    issuer: %s\n    rootcertbundle: %s\n",
			r.TokenURL, tokenService, tokenIssuer, bundle)
	}
	var tlsConf string
	var pool *x509.CertPool
	if o.TLS {
		certPEM, keyPEM, cert := selfSigned(t, "berth test registry", true)
		crt, key := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
		writeFile(t, crt, certPEM)
		writeFile(t, key, keyPEM)
		tlsConf = fmt.Sprintf("  tls:\n    certificate: %s\n    key: %s\n", crt, key)
		pool = x509.NewCertPool()
		pool.AddCert(cert)
		r.CertsDir = filepath.Join(dir, "certs.d")
		r.certPEM = certPEM
	}

	r.name, r.pool = "docker-registry", pool
	if err := r.startOnFreePort(t, func() []string {
		config := fmt.Sprintf(`version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
  secret: berth-test-secret
%s%s`, filepath.Join(dir, "storage"), r.Host, tlsConf, auth)
		cfg := filepath.Join(dir, "config.yml")
		writeFile(t, cfg, []byte(config))
		return []string{RegistryPath, "serve", cfg}
	}); err != nil {
		t.Fatalf("start docker-registry: %v", err)
	}
	return r
}

// startOnFreePort starts the registry on a free port of 127.0.0.1 (with
// its CA in CertsDir under that address, when TLS); argv gives the
// command for r.Host. Another process may take the port before the
// registry binds it: then it tries another.
func (r *Registry) startOnFreePort(t testing.TB, argv func() []string) error {
	var err error
	for range 3 {
		r.Host = freeAddr(t)
		if r.CertsDir != "" {
			r.CACert = filepath.Join(r.CertsDir, r.Host, "ca.crt")
			os.MkdirAll(filepath.Dir(r.CACert), 0o755)
			writeFile(t, r.CACert, r.certPEM)
		}
		r.argv = argv()
		if err = r.start(t); err == nil {
			return nil
		}
	}
	return err
}

// start runs the registry's command and waits for it to answer.
func (r *Registry) start(t testing.TB) error {
	logs := &lockedBuffer{}
	r.logs = logs
	cmd := exec.Command(r.argv[0], r.argv[1:]...)
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop := func() {
		cmd.Process.Kill()
		<-exited
	}
	hc := &http.Client{Timeout: time.Second}
	if r.pool != nil {
		hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: r.pool}}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := hc.Get(r.URL() + "/v2/")
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case <-exited:
			return fmt.Errorf("%s exited: %s", r.name, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return fmt.Errorf("%s did not answer on %s: %v\n%s", r.name, r.Host, err, logs.String())
		}
	}
	var once sync.Once
	r.stop = func() { once.Do(stop) }
	t.Cleanup(func() {
		r.stop()
		if t.Failed() {
			t.Logf("%s %s log:\n%s", r.name, r.Host, logs.String())
		}
	})
	return nil
}

// Kill stops the registry with SIGKILL, as a crash would.
func (r *Registry) Kill() { r.stop() }

// Restart starts the registry again on the same address and storage after
// Kill.
func (r *Registry) Restart(t testing.TB) {
	t.Helper()
	var err error
	for range 50 { // the killed process's port may linger for a moment
		if err = r.start(t); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("restart %s: %v", r.name, err)
}

// Logs is what the registry process has written so far.
func (r *Registry) Logs() string { return r.logs.String() }

// PushLayout pushes the image of the OCI layout layoutDir (the one image
// its index.json lists, with every platform of an index) to ref, which is
// "repo:tag" on this registry, keeping every digest.
func (r *Registry) PushLayout(t testing.TB, layoutDir, ref string) {
	t.Helper()
	skopeo := gate.Command(t, "skopeo")
	ref = strings.TrimPrefix(ref, r.Host+"/")
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.json")
	writeFile(t, policy, []byte(`{"default":[{"type":"insecureAcceptAnything"}]}`))
	authFile := filepath.Join(dir, "auth.json")
	writeFile(t, authFile, []byte(`{}`))
	args := []string{"--policy", policy, "copy", "--all", "--preserve-digests", "--authfile", authFile}
	if r.tls {
		// skopeo wants the CA in the directory itself.
		args = append(args, "--dest-tls-verify=true", "--dest-cert-dir", filepath.Dir(r.CACert))
	} else {
		args = append(args, "--dest-tls-verify=false")
	}
	if r.Username != "" {
		args = append(args, "--dest-creds", r.Username+":"+r.Password)
	}
	args = append(args, "oci:"+layoutDir, "docker://"+r.Host+"/"+ref)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, skopeo, args...)
	cmd.Env = append(os.Environ(), "REGISTRY_AUTH_FILE="+authFile)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("skopeo %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// freeAddr finds a free TCP port on 127.0.0.1.
func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func writeFile(t testing.TB, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// selfSigned makes an ECDSA P-256 certificate signed by its own key, valid
// for 127.0.0.1, ::1 and localhost when server is true.
func selfSigned(t testing.TB, cn string, server bool) (certPEM, keyPEM []byte, cert *x509.Certificate) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
		tmpl.DNSNames = []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err = x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
	return certPEM, keyPEM, cert
}

// The token server's identity, as the registry's config names it.
const (
	tokenService = "berth-test-registry"
	tokenIssuer  = "berth-test-issuer"
)

// tokenServer issues ES256 JWTs the way docker's token protocol wants
// them: an x5c header with the signing certificate, which the registry
// trusts through its rootcertbundle.
type tokenServer struct {
	srv     *httptest.Server
	key     *ecdsa.PrivateKey
	certDER []byte
	certPEM []byte
	reg     *Registry
}

func newTokenServer(t testing.TB, reg *Registry) *tokenServer {
	certPEM, keyPEM, cert := selfSigned(t, "berth test token issuer", false)
	block, _ := pem.Decode(keyPEM)
	key, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	ts := &tokenServer{key: key, certDER: cert.Raw, certPEM: certPEM, reg: reg}
	ts.srv = httptest.NewServer(http.HandlerFunc(ts.serve))
	t.Cleanup(ts.srv.Close)
	return ts
}

// access is one entry of a token's "access" claim.
type access struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

func (ts *tokenServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/token" || r.Method != http.MethodGet {
		http.Error(w, "the test token server answers GET /token", http.StatusNotFound)
		return
	}
	q := r.URL.Query()
	if q.Get("service") != tokenService {
		http.Error(w, "unknown service", http.StatusBadRequest)
		return
	}
	var grants []access
	subject := ""
	user, pass, hasCreds := r.BasicAuth()
	switch {
	case hasCreds && (user != ts.reg.Username || pass != ts.reg.Password):
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"incorrect username or password"}]}`))
		return
	case hasCreds:
		subject = user
		for _, s := range q["scope"] {
			parts := strings.Split(s, ":")
			if len(parts) != 3 {
				continue
			}
			grants = append(grants, access{Type: parts[0], Name: parts[1], Actions: strings.Split(parts[2], ",")})
		}
	}
	tok, err := ts.sign(subject, grants)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	ts.reg.tokens.Add(1)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"token": tok, "access_token": tok, "expires_in": 300, "issued_at": time.Now().UTC().Format(time.RFC3339),
	})
}

// sign makes an ES256 JWT granting access to subject.
func (ts *tokenServer) sign(subject string, grants []access) (string, error) {
	if grants == nil {
		grants = []access{}
	}
	header := map[string]any{"typ": "JWT", "alg": "ES256", "x5c": []string{base64.StdEncoding.EncodeToString(ts.certDER)}}
	jti := make([]byte, 16)
	rand.Read(jti)
	now := time.Now()
	claims := map[string]any{
		"iss": tokenIssuer, "sub": subject, "aud": tokenService,
		"exp": now.Add(5 * time.Minute).Unix(), "nbf": now.Add(-time.Minute).Unix(), "iat": now.Unix(),
		"jti": hex.EncodeToString(jti), "access": grants,
	}
	hb, err := json.Marshal(header)
	if err != nil {
		return "", err
	}
	cb, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	b64 := base64.RawURLEncoding
	signed := b64.EncodeToString(hb) + "." + b64.EncodeToString(cb)
	sum := sha256.Sum256([]byte(signed))
	rs, ss, err := ecdsa.Sign(rand.Reader, ts.key, sum[:])
	if err != nil {
		return "", err
	}
	// JWS wants r and s as two 32-byte big-endian numbers, not ASN.1.
	sig := make([]byte, 64)
	rs.FillBytes(sig[:32])
	ss.FillBytes(sig[32:])
	return signed + "." + b64.EncodeToString(sig), nil
}
