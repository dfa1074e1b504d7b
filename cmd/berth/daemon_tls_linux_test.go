package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testCA is a certificate authority that signs the daemon's and the
// client's certificates, written as PEM files in dir.
type testCA struct {
	t    *testing.T
	dir  string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T) *testCA {
	ca := &testCA{t: t, dir: t.TempDir()}
	ca.cert, ca.key = ca.issue("berth test CA", nil, "ca")
	return ca
}

// issue makes a certificate for cn signed by the CA (self-signed when the
// CA is not made yet) and writes name.pem and name-key.pem.
func (ca *testCA) issue(cn string, usage []x509.ExtKeyUsage, name string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t := ca.t
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: usage,
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, BasicConstraintsValid: true,
	}
	parent, signer := tmpl, key
	if ca.cert == nil {
		tmpl.IsCA, tmpl.KeyUsage = true, x509.KeyUsageCertSign|x509.KeyUsageDigitalSignature
	} else {
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	kb, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(filepath.Join(ca.dir, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(filepath.Join(ca.dir, name+"-key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return cert, key
}

func (ca *testCA) file(name string) string { return filepath.Join(ca.dir, name) }

// TestDaemonTLS serves the API on TCP with client certificates required:
// a client with a certificate the CA signed gets in, one without does not.
func TestDaemonTLS(t *testing.T) {
	c := newCLI(t)
	ca := newTestCA(t)
	ca.issue("127.0.0.1", []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, "server")
	ca.issue("client", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, "client")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	d := startDaemon(t, c, "-H", "tcp://"+addr, "--tlsverify",
		"--tlscacert", ca.file("ca.pem"), "--tlscert", ca.file("server.pem"), "--tlskey", ca.file("server-key.pem"))
	// The unix socket beside it is root's and its group's only.
	if fi, err := os.Stat(d.sock); err != nil || fi.Mode().Perm() != 0o660 {
		t.Fatalf("API socket: %v %v, want mode 0660", fi.Mode(), err)
	}
	tlsArgs := []string{"-H", "tcp://" + addr, "--tlsverify", "--tlscacert", ca.file("ca.pem")}
	out := c.ok(append(tlsArgs, "--tlscert", ca.file("client.pem"), "--tlskey", ca.file("client-key.pem"), "version", "--format", "{{.Server.Version}}")...)
	if strings.TrimSpace(out) == "" {
		t.Fatalf("version over TLS printed nothing")
	}
	// Without a client certificate the handshake fails; the CLI must not
	// fall back to an in-process engine for a host it was given.
	r := c.run(nil, append(tlsArgs, "--tlscert", filepath.Join(ca.dir, "none.pem"), "--tlskey", filepath.Join(ca.dir, "none-key.pem"), "ps")...)
	if r.code == 0 {
		t.Fatalf("ps without a client certificate succeeded: %s", r.stdout)
	}
}

// TestDaemonConfigFile: daemon.json's keys are docker's; unknown keys and
// keys also given as flags are refused before anything starts.
func TestDaemonConfigFile(t *testing.T) {
	c := newCLI(t)
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, "daemon.json")
		os.WriteFile(p, []byte(s), 0o644)
		return p
	}
	c.fails("unknown keys: bogus", "daemon", "--config-file", write(`{"bogus": 1}`))
	c.fails("specified both as a flag and in the configuration file", "daemon", "--config-file", write(`{"debug": true}`), "--debug")
	c.fails("refusing to serve the API on tcp://0.0.0.0:2375 without TLS", "daemon", "-H", "tcp://0.0.0.0:2375")
	c.fails(`log driver "syslog" is not supported`, "daemon", "--config-file", write(`{"log-driver": "syslog"}`))
	if _, err := os.Stat(filepath.Join(c.root, "engine.db")); err == nil {
		t.Fatalf("a refused configuration created the records")
	}
}
