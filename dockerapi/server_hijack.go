package dockerapi

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/berth-project/berth/engine"
)

// hijack takes the connection over for attach and exec start: it answers
// 101 UPGRADED when the client asked to upgrade (docker's clients do),
// else 200 with the raw stream, then copies the client's bytes to s (its
// half-close becomes s.CloseWrite) and s's output to the client until the
// output ends, when the connection is half-closed and then closed.
func hijack(c *call, s engine.Stream, contentType string) error {
	conn, brw, err := c.w.Hijack()
	if err != nil {
		s.Close()
		return fmt.Errorf("hijack connection for %s %s: %w", c.r.Method, c.r.URL.Path, err)
	}
	defer conn.Close()
	defer s.Close()

	var head strings.Builder
	if _, upgrade := c.r.Header["Upgrade"]; upgrade {
		c.w.status = http.StatusSwitchingProtocols
		fmt.Fprintf(&head, "HTTP/1.1 101 UPGRADED\r\nContent-Type: %s\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n", contentType)
	} else {
		c.w.status = http.StatusOK
		fmt.Fprintf(&head, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\n", contentType)
	}
	// The headers every response carries (Api-Version, Server, ...).
	_ = c.w.Header().WriteSubset(&head, map[string]bool{"Content-Type": true, "Content-Length": true})
	head.WriteString("\r\n")
	if brw.Writer.Buffered() > 0 {
		if err := brw.Writer.Flush(); err != nil {
			return err
		}
	}
	if _, err := io.WriteString(conn, head.String()); err != nil {
		return fmt.Errorf("answer %s %s: %w", c.r.Method, c.r.URL.Path, err)
	}

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		// brw.Reader first: it may hold bytes the client sent right
		// after the request.
		_, _ = io.Copy(s, brw.Reader)
		_ = s.CloseWrite()
	}()
	_, err = io.Copy(conn, s)
	// Half-close, so the client reads all the output and then EOF, and
	// give it a moment to close its side: closing a socket with its
	// input unread would reset the connection under the client's feet.
	if cw, ok := conn.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		_ = conn.SetReadDeadline(time.Now().Add(lingerAfterOutput))
	} else {
		conn.Close()
	}
	wg.Wait()
	return err
}

// lingerAfterOutput bounds how long a hijacked connection stays open for
// the client's input once the output has ended.
const lingerAfterOutput = 2 * time.Second
