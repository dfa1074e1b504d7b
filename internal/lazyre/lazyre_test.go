package lazyre

import "testing"

func TestRE(t *testing.T) {
	re := New(`^a(b+)$`)
	for s, want := range map[string]bool{"abb": true, "ab": true, "a": false, "xab": false} {
		if got := re.MatchString(s); got != want {
			t.Errorf("MatchString(%q) = %v", s, got)
		}
	}
	if m := re.FindStringSubmatch("abbb"); len(m) != 2 || m[1] != "bbb" {
		t.Errorf("FindStringSubmatch: %q", m)
	}
	defer func() {
		if recover() == nil {
			t.Error("a bad pattern did not panic on first use")
		}
	}()
	New(`(`).MatchString("x")
}
