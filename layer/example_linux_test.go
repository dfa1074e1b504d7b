package layer_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"

	"github.com/berth-project/berth/layer"
)

// A pull: the blob, in whatever compression, is unpacked into the
// snapshot's upper directory, and its diff ID taken on the way.
func ExampleApply() {
	blob, err := os.Open("/path/to/blob")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer blob.Close()
	tarStream, compression, err := layer.Decompress(blob)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tarStream.Close()
	h := sha256.New()
	size, err := layer.Apply(context.Background(), "/path/to/upper", io.TeeReader(tarStream, h), layer.WithOverlayWhiteouts())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s layer, %d bytes, diff ID sha256:%x\n", compression, size, h.Sum(nil))
}

// A commit: the container's changes, from its overlay upper directory,
// as a gzip-compressed layer.
func ExampleWriteOverlayDiff() {
	out, err := os.Create("/path/to/new-layer.tar.gz")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer out.Close()
	zw, err := layer.Compress(out, layer.Gzip)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := layer.WriteOverlayDiff(context.Background(), zw, "/path/to/upper", "/path/to/lower"); err != nil {
		fmt.Println(err)
		return
	}
	if err := zw.Close(); err != nil {
		fmt.Println(err)
	}
}
