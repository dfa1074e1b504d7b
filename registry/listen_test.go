package registry

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// listenDeadline is the generous bound of every wait in these tests: a
// failure, never a measurement.
const listenDeadline = 10 * time.Second

// listenServe runs Serve on a fresh loopback listener until the test ends;
// it returns the address and Serve's result channel.
func listenServe(t *testing.T, h http.Handler, cfg *tls.Config, opts ...ServeOption) (string, context.CancelFunc, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc, done := make(chan error, 1), make(chan struct{})
	opts = append([]ServeOption{WithErrorLog(log.New(listenLogWriter{t}, "", 0))}, opts...)
	go func() {
		errc <- Serve(ctx, ln, h, cfg, opts...)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(listenDeadline):
			t.Error("Serve did not return after its context ended")
		}
	})
	return ln.Addr().String(), cancel, errc
}

// listenLogWriter sends the server's log to the test's.
type listenLogWriter struct{ t *testing.T }

func (w listenLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func listenHello() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			// HTTP/1 handlers read the body before they answer.
			b, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			w.Write(b)
			return
		}
		io.WriteString(w, "hello")
	})
}

func TestServePlainAnswersTLS(t *testing.T) {
	blob := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB, served from a file
	blobPath := filepath.Join(t.TempDir(), "blob")
	if err := os.WriteFile(blobPath, blob, 0o600); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", listenHello())
	mux.HandleFunc("/blob", func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(blobPath)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer f.Close()
		w.Header().Set("Content-Length", "1048576")
		io.Copy(w, f) // sendfile through sniffConn.ReadFrom
	})
	addr, _, _ := listenServe(t, mux, nil)

	ctx, cancel := context.WithTimeout(context.Background(), listenDeadline)
	defer cancel()
	insecure := &tls.Config{InsecureSkipVerify: true}

	t.Run("https client", func(t *testing.T) {
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: insecure}}
		req, _ := http.NewRequestWithContext(ctx, "GET", "https://"+addr+"/v2/", nil)
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("https to a plain listener answered %s", resp.Status)
		}
		if ctx.Err() != nil {
			t.Fatalf("no answer within %v: %v", listenDeadline, err)
		}
		if !strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
			t.Errorf("err = %v", err)
		}
	})

	t.Run("tls.Dial", func(t *testing.T) {
		d := &tls.Dialer{Config: insecure}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			t.Fatal("TLS handshake with a plain listener succeeded")
		}
		if ctx.Err() != nil {
			t.Fatalf("no answer within %v: %v", listenDeadline, err)
		}
		var rh tls.RecordHeaderError
		if !errors.As(err, &rh) || string(rh.RecordHeader[:]) != "HTTP/" {
			t.Errorf("err = %v, want a record header error on an HTTP response", err)
		}
	})

	t.Run("the answer", func(t *testing.T) {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(listenDeadline))
		c.Write([]byte{0x16, 0x03, 0x01, 0x00, 0x05, 1, 0, 0, 1, 0})
		got, err := io.ReadAll(c)
		if err != nil || string(got) != tlsOnPlainResponse {
			t.Errorf("read %q, %v", got, err)
		}
	})

	t.Run("a silent connection holds up no other", func(t *testing.T) {
		idle, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer idle.Close()
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	})

	t.Run("plain HTTP on the same listener", func(t *testing.T) {
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		hc := &http.Client{Transport: tr}
		for i := range 3 { // one kept-alive connection
			body := strings.Repeat("x", i*100000)
			req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+addr+"/", strings.NewReader(body))
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(got) != body {
				t.Fatalf("POST %d bytes: %s, %d bytes back", len(body), resp.Status, len(got))
			}
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/blob", nil)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(got, blob) {
			t.Errorf("blob: %d bytes, %v", len(got), err)
		}
	})
}

// listenPKI is a CA with a server and a client certificate, in files.
type listenPKI struct {
	dir                  string
	ca                   *x509.Certificate
	caKey                *ecdsa.PrivateKey
	caFile               string
	certFile, keyFile    string // server, for 127.0.0.1
	clientCert           tls.Certificate
	serverSerial         *big.Int
	roots                *x509.CertPool
	otherCA, otherCAFile string
}

// listenIssueCert creates a certificate from tmpl signed by parent (self-signed
// when parent is nil) and returns it with its key, in PEM.
func listenIssueCert(t *testing.T, tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, []byte, []byte) {
	t.Helper()
	key := newSigningTestKey(t)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

var listenSerial int64 = 1

func listenCertTemplate(cn string, usage x509.ExtKeyUsage) *x509.Certificate {
	listenSerial++
	return &x509.Certificate{
		SerialNumber: big.NewInt(listenSerial),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
}

func newListenPKI(t *testing.T) *listenPKI {
	p := &listenPKI{dir: t.TempDir()}
	caTmpl := listenCertTemplate("berth test CA", x509.ExtKeyUsageAny)
	caTmpl.IsCA, caTmpl.BasicConstraintsValid, caTmpl.KeyUsage = true, true, x509.KeyUsageCertSign
	var caPEM []byte
	p.ca, p.caKey, caPEM, _ = listenIssueCert(t, caTmpl, nil, nil)
	p.caFile = filepath.Join(p.dir, "ca.crt")
	os.WriteFile(p.caFile, caPEM, 0o600)
	p.roots = x509.NewCertPool()
	p.roots.AddCert(p.ca)
	p.certFile, p.keyFile = filepath.Join(p.dir, "server.crt"), filepath.Join(p.dir, "server.key")
	p.renewServer(t)

	_, _, cPEM, kPEM := listenIssueCert(t, listenCertTemplate("client", x509.ExtKeyUsageClientAuth), p.ca, p.caKey)
	var err error
	if p.clientCert, err = tls.X509KeyPair(cPEM, kPEM); err != nil {
		t.Fatal(err)
	}
	otherTmpl := listenCertTemplate("other CA", x509.ExtKeyUsageAny)
	otherTmpl.IsCA, otherTmpl.BasicConstraintsValid, otherTmpl.KeyUsage = true, true, x509.KeyUsageCertSign
	_, _, otherPEM, _ := listenIssueCert(t, otherTmpl, nil, nil)
	p.otherCAFile = filepath.Join(p.dir, "other-ca.crt")
	os.WriteFile(p.otherCAFile, otherPEM, 0o600)
	return p
}

// renewServer writes a new server certificate and key.
func (p *listenPKI) renewServer(t *testing.T) {
	cert, _, cPEM, kPEM := listenIssueCert(t, listenCertTemplate("server", x509.ExtKeyUsageServerAuth), p.ca, p.caKey)
	p.serverSerial = cert.SerialNumber
	if err := os.WriteFile(p.certFile, cPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.keyFile, kPEM, 0o600); err != nil {
		t.Fatal(err)
	}
}

// tlsClient is an HTTP client trusting p's CA, with certs as its own,
// sent whatever CAs the server asks for.
func (p *listenPKI) tlsClient(certs ...tls.Certificate) *http.Client {
	cfg := &tls.Config{RootCAs: p.roots}
	if len(certs) > 0 {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &certs[0], nil }
	}
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:   cfg,
		ForceAttemptHTTP2: true,
		DisableKeepAlives: true, // each request sees the certificate of the moment
	}}
}

func listenGet(ctx context.Context, hc *http.Client, u string) (*http.Response, string, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return nil, "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

func TestServeTLS(t *testing.T) {
	p := newListenPKI(t)
	ctx, cancel := context.WithTimeout(context.Background(), listenDeadline)
	defer cancel()

	t.Run("server certificate", func(t *testing.T) {
		cfg, err := LoadTLSConfig(p.certFile, p.keyFile, "")
		if err != nil {
			t.Fatal(err)
		}
		addr, _, _ := listenServe(t, listenHello(), cfg)
		resp, body, err := listenGet(ctx, p.tlsClient(), "https://"+addr+"/")
		if err != nil {
			t.Fatal(err)
		}
		if body != "hello" || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 || resp.ProtoMajor != 2 {
			t.Errorf("%s %q over %v", resp.Proto, body, resp.TLS)
		}

		// Plain HTTP to the TLS port: Go's server says what is wrong.
		resp, _, err = listenGet(ctx, http.DefaultClient, "http://"+addr+"/")
		if err != nil || resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP to TLS: %v %v", resp, err)
		}

		// TLS 1.1 is refused.
		old := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.roots, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}}}
		if _, _, err := listenGet(ctx, old, "https://"+addr+"/"); err == nil || ctx.Err() != nil {
			t.Errorf("a TLS 1.1 client: %v", err)
		}

		// A renewed certificate is served without a restart.
		before := p.serverSerial
		p.renewServer(t)
		resp, _, err = listenGet(ctx, p.tlsClient(), "https://"+addr+"/")
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.TLS.PeerCertificates[0].SerialNumber; got.Cmp(p.serverSerial) != 0 || got.Cmp(before) == 0 {
			t.Errorf("served serial %v, want the renewed %v", got, p.serverSerial)
		}

		// A half-written renewal keeps the last good certificate.
		if err := os.WriteFile(p.keyFile, []byte("-----BEGIN EC PRIVATE KEY-----\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		resp, _, err = listenGet(ctx, p.tlsClient(), "https://"+addr+"/")
		if err != nil || resp.TLS.PeerCertificates[0].SerialNumber.Cmp(p.serverSerial) != 0 {
			t.Errorf("during a bad renewal: %v", err)
		}
		p.renewServer(t)
	})

	t.Run("client certificate required", func(t *testing.T) {
		cfg, err := LoadTLSConfig(p.certFile, p.keyFile, p.caFile)
		if err != nil {
			t.Fatal(err)
		}
		mux := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, r.TLS.PeerCertificates[0].Subject.CommonName)
		})
		addr, _, _ := listenServe(t, mux, cfg)
		if _, _, err := listenGet(ctx, p.tlsClient(), "https://"+addr+"/"); err == nil || ctx.Err() != nil {
			t.Errorf("no client certificate: %v", err)
		}
		_, body, err := listenGet(ctx, p.tlsClient(p.clientCert), "https://"+addr+"/")
		if err != nil || body != "client" {
			t.Errorf("with the client certificate: %q %v", body, err)
		}

		// A client certificate of another CA is refused.
		cfg, err = LoadTLSConfig(p.certFile, p.keyFile, p.otherCAFile)
		if err != nil {
			t.Fatal(err)
		}
		addr, _, _ = listenServe(t, mux, cfg)
		if _, _, err := listenGet(ctx, p.tlsClient(p.clientCert), "https://"+addr+"/"); err == nil || ctx.Err() != nil {
			t.Errorf("a client certificate of another CA: %v", err)
		}
	})

	t.Run("load errors", func(t *testing.T) {
		notPEM := filepath.Join(p.dir, "not.pem")
		os.WriteFile(notPEM, []byte("hello"), 0o600)
		for _, tc := range []struct{ name, cert, key, ca, want string }{
			{"no certificate", filepath.Join(p.dir, "nope.crt"), p.keyFile, "", "nope.crt"},
			{"key not PEM", p.certFile, notPEM, "", "not.pem"},
			{"no CA file", p.certFile, p.keyFile, filepath.Join(p.dir, "nope-ca.crt"), "nope-ca.crt"},
			{"CA file without certificates", p.certFile, p.keyFile, notPEM, "no PEM certificate"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if _, err := LoadTLSConfig(tc.cert, tc.key, tc.ca); err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("err = %v, want one about %s", err, tc.want)
				}
			})
		}
	})
}

func TestServeGracefulShutdown(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "done")
	})
	mux.Handle("/", listenHello())
	addr, stop, errc := listenServe(t, mux, nil)
	ctx, cancel := context.WithTimeout(context.Background(), listenDeadline)
	defer cancel()

	type result struct {
		body string
		err  error
	}
	slow := make(chan result, 1)
	go func() {
		_, body, err := listenGet(ctx, http.DefaultClient, "http://"+addr+"/slow")
		slow <- result{body, err}
	}()
	select {
	case <-started:
	case <-ctx.Done():
		t.Fatal("the slow request never arrived")
	}
	stop()

	// The listener closes: new connections are refused.
	for {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			if ctx.Err() != nil {
				t.Fatal("the listener stayed open after shutdown began")
			}
			break
		}
		c.Close()
		time.Sleep(10 * time.Millisecond)
	}
	// Serve waits for the request in flight.
	select {
	case err := <-errc:
		t.Fatalf("Serve returned %v while a request was in flight", err)
	default:
	}
	close(release)
	if r := <-slow; r.err != nil || r.body != "done" {
		t.Errorf("the request in flight: %q %v", r.body, r.err)
	}
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("Serve = %v", err)
		}
	case <-ctx.Done():
		t.Fatal("Serve did not return")
	}
}

func TestServeShutdownTimeout(t *testing.T) {
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done() // until the connection is cut
	})
	addr, stop, errc := listenServe(t, h, nil, WithShutdownTimeout(50*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), listenDeadline)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, _, err := listenGet(ctx, http.DefaultClient, "http://"+addr+"/")
		done <- err
	}()
	<-started
	stop()
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), "shut down") {
			t.Errorf("Serve = %v, want an error saying requests were cut", err)
		}
	case <-ctx.Done():
		t.Fatal("Serve did not return")
	}
	if err := <-done; err == nil {
		t.Error("the cut request succeeded")
	}
}

func TestServeListenerError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	err = Serve(context.Background(), ln, listenHello(), nil)
	if err == nil || !strings.Contains(err.Error(), "serve on") {
		t.Errorf("Serve = %v", err)
	}
}
