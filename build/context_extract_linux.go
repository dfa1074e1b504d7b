package build

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/berth-project/berth/engine"
	"github.com/berth-project/berth/layer"
)

var (
	bzip2Magic = []byte("BZh")
	xzMagic    = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
)

// archiveKind is what the head of a stream says it is.
type archiveKind int

const (
	notArchive   archiveKind = iota
	layerArchive             // a tar, plain or compressed as layer.Decompress reads
	bzip2Archive
	xzArchive
)

// sniffArchive classifies a stream by its first bytes (up to a tar
// block): a tar, compressed or not, or something else.
func sniffArchive(head []byte) archiveKind {
	switch {
	case bytes.HasPrefix(head, bzip2Magic) && len(head) > 3 && head[3] >= '1' && head[3] <= '9':
		return bzip2Archive
	case bytes.HasPrefix(head, xzMagic):
		return xzArchive
	}
	if len(head) == 0 {
		return layerArchive // an empty body is an empty context
	}
	rc, _, err := layer.Decompress(bytes.NewReader(head))
	if err != nil {
		return notArchive
	}
	rc.Close()
	return layerArchive
}

// decompressed returns the tar stream of an archive of kind k.
func decompressed(r io.Reader, k archiveKind) (io.ReadCloser, error) {
	switch k {
	case layerArchive:
		rc, _, err := layer.Decompress(r)
		return rc, err
	case bzip2Archive:
		return io.NopCloser(bzip2.NewReader(r)), nil
	case xzArchive:
		return nil, errors.New("xz compression is not supported")
	}
	return nil, errors.New("not an archive")
}

// extractContext unpacks the body r into dir: a tar is applied with
// layer.Apply (entries resolved inside dir, owners, modes, times and
// links as the tar has them); anything else is a bare Dockerfile, stored
// as "Dockerfile". It returns the Dockerfile's path to read.
func extractContext(ctx context.Context, r io.Reader, dir, dockerfile string) (string, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(512)
	if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
		return "", fmt.Errorf("build context: read: %w", err)
	}
	kind := sniffArchive(head)
	if kind == notArchive {
		df, err := io.ReadAll(io.LimitReader(br, maxDockerfileSize+1))
		if err != nil {
			return "", fmt.Errorf("build context: read Dockerfile: %w", err)
		}
		if len(df) > maxDockerfileSize {
			return "", engine.Errorf(engine.KindInvalid, "build context: the body is neither a tar archive nor a Dockerfile of at most %d bytes", maxDockerfileSize)
		}
		if err := os.WriteFile(filepath.Join(dir, defaultDockerfile), df, 0o644); err != nil {
			return "", fmt.Errorf("build context: %w", err)
		}
		return defaultDockerfile, nil
	}
	tr, err := decompressed(br, kind)
	if err != nil {
		return "", engine.Errorf(engine.KindInvalid, "build context: %w", err)
	}
	defer tr.Close()
	if _, err := layer.Apply(ctx, dir, tr, layer.WithoutWhiteouts()); err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("build context: %w", ctx.Err())
		}
		return "", engine.Errorf(engine.KindInvalid, "build context: extract: %w", err)
	}
	// Apply ends at the tar's end; what follows (a compressor's trailer)
	// is read so a client writing the body is not cut short.
	io.Copy(io.Discard, br)
	return dockerfile, nil
}
