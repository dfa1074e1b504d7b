package layer

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func smallTar(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	if err := tw.WriteHeader(&tar.Header{Name: "hello", Mode: 0o644, Size: 5, Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte("world"))
	tw.Close()
	return b.Bytes()
}

func compressed(t *testing.T, c Compression, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := Compress(&b, c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestDecompress(t *testing.T) {
	plain := smallTar(t)
	// A v7 tar: no ustar magic, only a checksum that adds up.
	v7 := append([]byte(nil), plain...)
	copy(v7[257:265], make([]byte, 8))
	var sum int
	copy(v7[148:156], "        ")
	for _, c := range v7[:512] {
		sum += int(c)
	}
	copy(v7[148:156], []byte(strings.Repeat("0", 6-len(itoa8(sum)))+itoa8(sum)+"\x00 "))

	zstdSkippable := append([]byte{0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4}, compressed(t, Zstd, plain)...)
	for _, tc := range []struct {
		name    string
		in      []byte
		want    Compression
		out     []byte // nil: plain
		wantErr string
	}{
		{name: "none", in: plain, want: None},
		{name: "gzip", in: compressed(t, Gzip, plain), want: Gzip},
		{name: "zstd", in: compressed(t, Zstd, plain), want: Zstd},
		{name: "zstd after skippable frame", in: zstdSkippable, want: Zstd},
		{name: "empty", in: nil, want: None, out: []byte{}},
		{name: "zero blocks", in: make([]byte, 1024), want: None, out: make([]byte, 1024)},
		{name: "v7 tar", in: v7, want: None, out: v7},
		{name: "garbage", in: []byte(strings.Repeat("not a layer at all ", 40)), wantErr: "unknown layer format"},
		{name: "short garbage", in: []byte("hi"), wantErr: "unknown layer format"},
		{name: "xz", in: append([]byte{0xfd, '7', 'z', 'X', 'Z', 0}, make([]byte, 600)...), wantErr: "xz compression is not supported"},
		{name: "bzip2", in: append([]byte("BZh91AY&SY"), make([]byte, 600)...), wantErr: "bzip2"},
		{name: "broken checksum", in: func() []byte {
			b := append([]byte(nil), v7...)
			b[0] ^= 1
			return b
		}(), wantErr: "unknown layer format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc, c, err := Decompress(bytes.NewReader(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrUnknownFormat) {
					t.Fatalf("err = %v, want one with %q wrapping ErrUnknownFormat", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			if c != tc.want {
				t.Errorf("compression %v, want %v", c, tc.want)
			}
			got, err := io.ReadAll(rc)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.out
			if want == nil {
				want = plain
			}
			if !bytes.Equal(got, want) {
				t.Errorf("decompressed %d bytes, want %d", len(got), len(want))
			}
		})
	}
}

func itoa8(n int) string {
	var s []byte
	for n > 0 {
		s = append([]byte{byte('0' + n%8)}, s...)
		n /= 8
	}
	return string(s)
}

func TestCompressionString(t *testing.T) {
	for c, want := range map[Compression]string{None: "none", Gzip: "gzip", Zstd: "zstd", 7: "Compression(7)"} {
		if got := c.String(); got != want {
			t.Errorf("%d: %q, want %q", int(c), got, want)
		}
	}
	if _, err := Compress(io.Discard, 7); err == nil {
		t.Error("Compress with an unknown compression: no error")
	}
}

func TestDecompressCorruptGzip(t *testing.T) {
	b := compressed(t, Gzip, bytes.Repeat(smallTar(t), 50))
	b[len(b)-6] ^= 0xff // the CRC
	rc, _, err := Decompress(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadAll(rc); err == nil {
		t.Error("a corrupt gzip stream read without error")
	}
}
