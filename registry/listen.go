package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// Serving the registry: an http.Server with timeouts that suit blob
// transfers, graceful shutdown, TLS, and a plain-HTTP listener that
// answers TLS clients at once.

const (
	// serveReadHeaderTimeout bounds the wait for request headers (and the
	// TLS handshake): a slow client cannot hold a connection open for
	// nothing. Bodies have no deadline: a blob can take hours.
	serveReadHeaderTimeout = 30 * time.Second
	// serveIdleTimeout closes keep-alive connections left idle.
	serveIdleTimeout = 2 * time.Minute
	// defaultShutdownTimeout is how long Serve waits for requests in
	// flight when its context ends.
	defaultShutdownTimeout = 30 * time.Second
	// tlsOnPlainDrain is how long a connection that sent a TLS handshake
	// to the plain listener is read from after the answer, so that
	// closing it does not reset it before the client has read the answer.
	tlsOnPlainDrain = 500 * time.Millisecond
)

// tlsOnPlainResponse is what the plain listener answers to a TLS
// ClientHello. Go's TLS client reports it as "http: server gave HTTP
// response to HTTPS client", which docker and containerd take as the cue
// to retry in plain HTTP for an insecure registry.
const tlsOnPlainResponse = "HTTP/1.0 400 Bad Request\r\n\r\nClient sent a TLS handshake to a plain HTTP server.\n"

// ServeOption configures Serve.
type ServeOption func(*serveConfig)

type serveConfig struct {
	shutdownTimeout time.Duration
	errorLog        *log.Logger
}

// WithErrorLog sends what the server logs (failed TLS handshakes, panics
// in handlers) to l instead of the standard logger.
func WithErrorLog(l *log.Logger) ServeOption {
	return func(c *serveConfig) { c.errorLog = l }
}

// WithShutdownTimeout sets how long Serve waits, once its context ends,
// for the requests in flight before it closes their connections (30 s by
// default).
func WithShutdownTimeout(d time.Duration) ServeOption {
	return func(c *serveConfig) { c.shutdownTimeout = d }
}

// Serve serves h on ln until ctx ends, then shuts down gracefully: it
// stops accepting, lets the requests in flight finish (within the
// shutdown timeout) and returns nil, or an error when it had to cut
// requests short or when ln failed. It serves TLS when tlsConfig is not
// nil (HTTP/2 too), plain HTTP/1.1 otherwise.
//
// On plain HTTP, a connection whose first byte is a TLS handshake record
// gets a 400 answer and is closed, instead of waiting for a request line
// that never comes.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, tlsConfig *tls.Config, opts ...ServeOption) error {
	c := serveConfig{shutdownTimeout: defaultShutdownTimeout}
	for _, o := range opts {
		o(&c)
	}
	addr := ln.Addr().String()
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: serveReadHeaderTimeout,
		IdleTimeout:       serveIdleTimeout,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          c.errorLog,
		// Requests see ctx's values, not its end: shutdown lets them finish.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	if tlsConfig != nil {
		srv.TLSConfig = tlsConfig.Clone()
	}
	errc := make(chan error, 1)
	go func() {
		if srv.TLSConfig != nil {
			errc <- srv.ServeTLS(ln, "", "")
			return
		}
		errc <- srv.Serve(plainListener{ln})
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serve on %s: %w", addr, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		srv.Close()
		return fmt.Errorf("shut down server on %s: %w", addr, err)
	}
	return nil
}

// plainListener hands out connections that answer a TLS handshake.
type plainListener struct{ net.Listener }

func (l plainListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &sniffConn{Conn: c}, nil
}

// sniffConn looks at the first byte its first Read returns: a TLS
// handshake record (0x16) is answered and the connection closed. The look
// happens in Read, on the connection's own goroutine, so Accept never
// waits for a client.
type sniffConn struct {
	net.Conn
	sniffed bool // only the serving goroutine reads: no lock
}

func (c *sniffConn) Read(p []byte) (int, error) {
	if c.sniffed {
		return c.Conn.Read(p)
	}
	n, err := c.Conn.Read(p)
	if n == 0 {
		return n, err
	}
	c.sniffed = true
	if p[0] != 0x16 {
		return n, err
	}
	c.refuseTLS()
	return 0, io.EOF
}

// refuseTLS answers a TLS ClientHello and closes the connection: after a
// half close, it reads what the client still sends (the rest of its
// hello) for a moment, because closing with unread data resets the
// connection, which can lose the answer.
func (c *sniffConn) refuseTLS() {
	c.Conn.SetWriteDeadline(time.Now().Add(tlsOnPlainDrain))
	io.WriteString(c.Conn, tlsOnPlainResponse)
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	c.Conn.SetReadDeadline(time.Now().Add(tlsOnPlainDrain))
	io.Copy(io.Discard, io.LimitReader(c.Conn, 64<<10))
	c.Conn.Close()
}

// ReadFrom keeps sendfile and splice for blob downloads: net/http uses
// them when the connection is an io.ReaderFrom.
func (c *sniffConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// CloseWrite lets net/http half-close, as it does on a *net.TCPConn.
func (c *sniffConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

// LoadTLSConfig returns a server TLS configuration (TLS 1.2 and later)
// with the certificate chain and key of certFile and keyFile (PEM). When
// clientCAFile is not empty, clients must present a certificate signed by
// one of its CAs. The certificate is reread when either file changes (a
// renewed certificate needs no restart); while the new pair does not load
// (half written), the last good one is used.
func LoadTLSConfig(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	kp := &keyPairFiles{certFile: certFile, keyFile: keyFile}
	if err := kp.reload(); err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: kp.get,
	}
	if clientCAFile != "" {
		b, err := os.ReadFile(clientCAFile)
		if err != nil {
			return nil, fmt.Errorf("load client CA %s: %w", clientCAFile, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("load client CA %s: no PEM certificate in it: %w", clientCAFile, ErrInvalid)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// keyPairFiles is a certificate and key on disk, reloaded when they
// change.
type keyPairFiles struct {
	certFile, keyFile string

	mu    sync.Mutex
	cert  *tls.Certificate
	cstat fileStamp // of the pair last tried, good or bad
	kstat fileStamp
}

func (kp *keyPairFiles) stats() (fileStamp, fileStamp) {
	var cs, ks fileStamp
	if fi, err := os.Stat(kp.certFile); err == nil {
		cs = stampFile(fi)
	}
	if fi, err := os.Stat(kp.keyFile); err == nil {
		ks = stampFile(fi)
	}
	return cs, ks
}

// reload loads the pair; on failure the last good one stays.
func (kp *keyPairFiles) reload() error {
	cs, ks := kp.stats()
	kp.mu.Lock()
	defer kp.mu.Unlock()
	return kp.reloadLocked(cs, ks)
}

func (kp *keyPairFiles) reloadLocked(cs, ks fileStamp) error {
	kp.cstat, kp.kstat = cs, ks
	pair, err := tls.LoadX509KeyPair(kp.certFile, kp.keyFile)
	if err != nil {
		return fmt.Errorf("load TLS certificate %s and key %s: %w", kp.certFile, kp.keyFile, err)
	}
	kp.cert = &pair
	return nil
}

func (kp *keyPairFiles) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	cs, ks := kp.stats()
	kp.mu.Lock()
	defer kp.mu.Unlock()
	if !kp.cstat.same(cs.fi) || !kp.kstat.same(ks.fi) {
		kp.reloadLocked(cs, ks)
	}
	return kp.cert, nil
}
