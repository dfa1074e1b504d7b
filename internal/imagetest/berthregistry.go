package imagetest

import (
	"crypto/x509"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// StartBerthRegistry runs `berth registry serve` (the binary berth) with the
// same choices StartRegistry offers docker-registry, so that one test can
// drive both: Auth "" (anyone pulls and pushes), "htpasswd" (basic auth) or
// "token" (the registry's own /token endpoint over the same accounts), and
// TLS. extra are more flags for serve. Root is the storage directory, kept
// across Kill and Restart.
func StartBerthRegistry(t testing.TB, berth string, o RegistryOptions, extra ...string) *Registry {
	t.Helper()
	dir := t.TempDir()
	r := &Registry{tls: o.TLS, name: "berth registry", Root: filepath.Join(dir, "storage")}
	args := []string{berth, "registry", "serve", "--root", r.Root}
	switch o.Auth {
	case "":
	case "htpasswd", "token":
		r.Username, r.Password = o.Username, o.Password
		if r.Username == "" {
			r.Username, r.Password = "berth", "berth-secret"
		}
		hash, err := bcrypt.GenerateFromPassword([]byte(r.Password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "htpasswd")
		writeFile(t, p, []byte(r.Username+":"+string(hash)+"\n"))
		args = append(args, "--htpasswd", p)
		if o.Auth == "token" {
			args = append(args, "--token")
		}
	default:
		t.Fatalf("imagetest: unknown registry auth %q", o.Auth)
	}
	if o.TLS {
		certPEM, keyPEM, cert := selfSigned(t, "berth test registry", true)
		crt, key := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
		writeFile(t, crt, certPEM)
		writeFile(t, key, keyPEM)
		args = append(args, "--tls-cert", crt, "--tls-key", key)
		r.pool = x509.NewCertPool()
		r.pool.AddCert(cert)
		r.CertsDir = filepath.Join(dir, "certs.d")
		r.certPEM = certPEM
	}
	args = append(args, extra...)
	if err := r.startOnFreePort(t, func() []string {
		if o.Auth == "token" {
			r.TokenURL = r.URL() + "/token"
		}
		return append(append([]string(nil), args...), "--addr", r.Host)
	}); err != nil {
		t.Fatalf("start berth registry: %v", err)
	}
	return r
}
