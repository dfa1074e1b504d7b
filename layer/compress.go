package layer

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Compression is how a layer blob is compressed.
type Compression int

const (
	None Compression = iota // an uncompressed tar
	Gzip
	Zstd
)

// String returns "none", "gzip" or "zstd", the words OCI media types use.
func (c Compression) String() string {
	switch c {
	case None:
		return "none"
	case Gzip:
		return "gzip"
	case Zstd:
		return "zstd"
	}
	return "Compression(" + strconv.Itoa(int(c)) + ")"
}

// ErrUnknownFormat is wrapped by Decompress when a stream is neither gzip,
// zstd nor a tar.
var ErrUnknownFormat = errors.New("unknown layer format: not gzip, zstd or tar")

var (
	gzipMagic = []byte{0x1f, 0x8b, 0x08} // ID1, ID2, CM=deflate
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
	xzMagic   = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
	bzipMagic = []byte{'B', 'Z', 'h'}
)

// Decompress detects from its first bytes whether r is gzip, zstd or a
// plain tar, and returns a reader of the tar. An empty stream counts as an
// empty uncompressed tar (archive/tar reads it as one). Anything else is an
// error wrapping ErrUnknownFormat. Close releases the decompressor; it does
// not close r.
func Decompress(r io.Reader) (io.ReadCloser, Compression, error) {
	br := bufio.NewReaderSize(r, 4096)
	head, err := br.Peek(blockSize)
	if err != nil && err != io.EOF {
		return nil, None, fmt.Errorf("layer: read stream head: %w", err)
	}
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, Gzip, fmt.Errorf("layer: gzip header: %w", err)
		}
		return zr, Gzip, nil
	case bytes.HasPrefix(head, zstdMagic) || isZstdSkippable(head):
		zr, err := zstd.NewReader(br)
		if err != nil {
			return nil, Zstd, fmt.Errorf("layer: zstd: %w", err)
		}
		return zr.IOReadCloser(), Zstd, nil
	case len(head) == 0 || isTarHeader(head):
		return io.NopCloser(br), None, nil
	case bytes.HasPrefix(head, xzMagic):
		return nil, None, fmt.Errorf("layer: %w: xz compression is not supported", ErrUnknownFormat)
	case bytes.HasPrefix(head, bzipMagic):
		return nil, None, fmt.Errorf("layer: %w: bzip2 compression is not supported", ErrUnknownFormat)
	}
	show := head
	if len(show) > 8 {
		show = show[:8]
	}
	return nil, None, fmt.Errorf("layer: %w (%d-byte head starting %x)", ErrUnknownFormat, len(head), show)
}

// isZstdSkippable reports a zstd skippable frame (magic 0x184D2A5?), which
// may lead a zstd stream (zstd:chunked and estargz-style layers).
func isZstdSkippable(b []byte) bool {
	return len(b) >= 4 && b[0]&0xf0 == 0x50 && b[1] == 0x2a && b[2] == 0x4d && b[3] == 0x18
}

const blockSize = 512

// isTarHeader reports whether b starts with a tar header block: a ustar or
// GNU magic, an all-zero block (an empty archive), or a v7 header whose
// checksum adds up.
func isTarHeader(b []byte) bool {
	if len(b) < blockSize {
		return false
	}
	b = b[:blockSize]
	if string(b[257:263]) == "ustar\x00" || string(b[257:265]) == "ustar  \x00" {
		return true
	}
	var zero [blockSize]byte
	if bytes.Equal(b, zero[:]) {
		return true
	}
	field := bytes.Trim(b[148:156], " \x00")
	want, err := strconv.ParseUint(string(field), 8, 32)
	if err != nil || len(field) == 0 {
		return false
	}
	var unsigned, signed int64
	for i, c := range b {
		if i >= 148 && i < 156 {
			c = ' '
		}
		unsigned += int64(c)
		signed += int64(int8(c))
	}
	return int64(want) == unsigned || int64(want) == signed
}

// Compress returns a writer that compresses what is written to it into w
// with c; None passes it through. Close flushes the compressor and does not
// close w.
func Compress(w io.Writer, c Compression) (io.WriteCloser, error) {
	switch c {
	case None:
		return nopWriteCloser{w}, nil
	case Gzip:
		return gzip.NewWriterLevel(w, gzip.DefaultCompression)
	case Zstd:
		return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedDefault))
	}
	return nil, fmt.Errorf("layer: compress: unknown compression %v", c)
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
