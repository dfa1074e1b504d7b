package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// The helper roles: the same static binary is the container's servers
// (server) and the host's bulk sender (send) and readiness probe (wait).

// pageSize is the size of the page both HTTP servers serve.
const pageSize = 1024

// page is what the servers serve: pageSize bytes of text.
var page = bytes.Repeat([]byte("berth netbench page ...........\n"), pageSize/32)

// server runs in the container: an HTTP/1.1 server with keep-alive (the
// keep-alive case; busybox httpd, which closes each connection, serves the
// new-connection case) and a TCP sink that reads a connection to its end
// and answers with the count of bytes it read, 8 bytes big-endian.
func server(args []string) error {
	fs := flag.NewFlagSet("server", flag.ExitOnError)
	httpAddr := fs.String("http", ":8080", "address of the keep-alive HTTP server")
	sinkAddr := fs.String("sink", ":5001", "address of the TCP sink")
	fs.Parse(args)
	if len(page) != pageSize {
		return fmt.Errorf("page is %d bytes, want %d", len(page), pageSize)
	}
	sink, err := net.Listen("tcp", *sinkAddr)
	if err != nil {
		return err
	}
	go func() {
		for {
			c, err := sink.Accept()
			if err != nil {
				fmt.Fprintln(os.Stderr, "sink:", err)
				os.Exit(1)
			}
			go drain(c)
		}
	}()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Content-Length", strconv.Itoa(len(page)))
		w.Write(page)
	})
	return http.ListenAndServe(*httpAddr, mux)
}

// drain reads c to its end, answers with the count and closes it.
func drain(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 1<<20)
	var n int64
	for {
		k, err := c.Read(buf)
		n += int64(k)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return
			}
			break
		}
	}
	var count [8]byte
	binary.BigEndian.PutUint64(count[:], uint64(n))
	c.Write(count[:])
}

// send writes to a sink as fast as it can for a while on one connection,
// closes its side, waits for the sink's count and prints "BYTES SECONDS":
// the bytes the sink read and the time from dial to its answer.
func send(args []string) error {
	fs := flag.NewFlagSet("send", flag.ExitOnError)
	d := fs.Duration("d", 2*time.Second, "how long to send")
	fs.Parse(args)
	if fs.NArg() != 1 {
		return errors.New("usage: netbench send [-d DURATION] HOST:PORT")
	}
	addr := fs.Arg(0)
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i)
	}
	start := time.Now()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	var sent int64
	end := start.Add(*d)
	c.SetDeadline(end.Add(30 * time.Second))
	for time.Now().Before(end) {
		k, err := c.Write(buf)
		sent += int64(k)
		if err != nil {
			return fmt.Errorf("send to %s after %d bytes: %w", addr, sent, err)
		}
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return fmt.Errorf("close the sending side to %s: %w", addr, err)
	}
	var count [8]byte
	if _, err := io.ReadFull(c, count[:]); err != nil {
		return fmt.Errorf("read the count from %s after sending %d bytes: %w", addr, sent, err)
	}
	took := time.Since(start)
	if got := int64(binary.BigEndian.Uint64(count[:])); got != sent {
		return fmt.Errorf("%s read %d bytes of the %d sent", addr, got, sent)
	}
	fmt.Printf("%d %.6f\n", sent, took.Seconds())
	return nil
}

// wait polls each target until it answers or the time is up: an http://
// URL must serve the page (pageSize bytes, status 200), a HOST:PORT must
// accept a connection.
func wait(args []string) error {
	fs := flag.NewFlagSet("wait", flag.ExitOnError)
	t := fs.Duration("t", 30*time.Second, "how long to wait")
	fs.Parse(args)
	deadline := time.Now().Add(*t)
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for _, target := range fs.Args() {
		probe := func() error {
			if !strings.HasPrefix(target, "http://") {
				c, err := net.DialTimeout("tcp", target, 2*time.Second)
				if err == nil {
					c.Close()
				}
				return err
			}
			resp, err := client.Get(target)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				return err
			}
			if resp.StatusCode != http.StatusOK || len(body) != pageSize {
				return fmt.Errorf("%s, %d bytes, want 200 OK and %d bytes", resp.Status, len(body), pageSize)
			}
			return nil
		}
		for {
			err := probe()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s: no answer within %v: %w", target, *t, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}
