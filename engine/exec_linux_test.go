package engine

import (
	"io"
	"os"
	"slices"
	"testing"
)

func TestMergeEnv(t *testing.T) {
	got := mergeEnv([]string{"PATH=/bin", "A=1", "B=2"}, []string{"A=3", "B", "C=4", "D"})
	if want := []string{"PATH=/bin", "A=3", "C=4"}; !slices.Equal(got, want) {
		t.Errorf("mergeEnv = %q, want %q", got, want)
	}
}

// TestExecStreamDetach writes through an exec stream's detach-key filter.
func TestExecStreamDetach(t *testing.T) {
	for _, tc := range []struct {
		name     string
		writes   []string
		stdin    string
		detached bool
	}{
		{"plain", []string{"hello\n"}, "hello\n", false},
		{"keys", []string{"ab\x10\x11cd"}, "ab", true},
		{"keys split over writes", []string{"ab\x10", "\x11cd"}, "ab", true},
		{"half a sequence is passed on", []string{"a\x10b\x10\x10"}, "a\x10b\x10", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			pr, pw := io.Pipe()
			defer pw.Close()
			detached := false
			s := &execStream{out: pr, stdin: w, tty: true, keys: []byte{16, 17}, detached: func() { detached = true }}
			for _, wr := range tc.writes {
				if _, err := s.Write([]byte(wr)); err != nil && !detached {
					t.Fatal(err)
				}
			}
			w.Close()
			got, _ := io.ReadAll(r)
			if string(got) != tc.stdin || detached != tc.detached {
				t.Errorf("stdin %q detached %v; want %q %v", got, detached, tc.stdin, tc.detached)
			}
			if detached {
				if _, err := pr.Read(make([]byte, 1)); err == nil {
					t.Error("the stream still reads after the detach")
				}
			}
		})
	}
}
