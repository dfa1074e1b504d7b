package snapshot

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/berth-project/berth/mount"
)

func TestUpperDir(t *testing.T) {
	for _, tc := range []struct {
		name string
		ms   []mount.Mount
		want string
	}{
		{"bind", []mount.Mount{{Type: "bind", Source: "/s/1/fs", Options: []string{"rbind", "rw"}}}, "/s/1/fs"},
		{"bind option", []mount.Mount{{Type: "none", Source: "/s/1/fs", Options: []string{"rbind"}}}, "/s/1/fs"},
		{"ro bind", []mount.Mount{{Type: "bind", Source: "/s/1/fs", Options: []string{"rbind", "ro"}}}, ""},
		{"overlay", []mount.Mount{{Type: "overlay", Source: "overlay", Options: []string{
			"index=off", "workdir=/s/2/work", "upperdir=/s/2/fs", "lowerdir=/s/1/fs"}}}, "/s/2/fs"},
		{"overlay view", []mount.Mount{{Type: "overlay", Source: "overlay", Options: []string{"ro", "lowerdir=/s/2/fs:/s/1/fs"}}}, ""},
		{"tmpfs", []mount.Mount{{Type: "tmpfs", Source: "tmpfs"}}, ""},
		{"none", nil, ""},
		{"two", []mount.Mount{{Type: "bind", Source: "/a"}, {Type: "bind", Source: "/b"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := UpperDir(tc.ms)
			if got != tc.want || ok != (tc.want != "") {
				t.Errorf("UpperDir = %q, %v; want %q", got, ok, tc.want)
			}
		})
	}
}

func TestKindText(t *testing.T) {
	for _, k := range []Kind{KindView, KindActive, KindCommitted} {
		b, err := json.Marshal(k)
		if err != nil {
			t.Fatal(err)
		}
		var back Kind
		if err := json.Unmarshal(b, &back); err != nil || back != k {
			t.Errorf("%v -> %s -> %v, %v", k, b, back, err)
		}
	}
	if _, err := json.Marshal(Kind(0)); !errors.Is(err, ErrInvalid) {
		t.Errorf("marshal of the zero Kind: %v", err)
	}
	var k Kind
	if err := json.Unmarshal([]byte(`"mutable"`), &k); !errors.Is(err, ErrInvalid) {
		t.Errorf("unmarshal of an unknown kind: %v", err)
	}
	if s := Kind(0).String(); s != "Kind(0)" {
		t.Errorf("Kind(0).String() = %q", s)
	}
}

func TestWithLabels(t *testing.T) {
	var info Info
	src := map[string]string{"a": "1"}
	if err := WithLabels(src)(&info); err != nil {
		t.Fatal(err)
	}
	src["a"] = "changed"
	if info.Labels["a"] != "1" {
		t.Errorf("WithLabels keeps the caller's map: %v", info.Labels)
	}
	if err := WithLabels(map[string]string{"": "x"})(&info); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty label key: %v", err)
	}
}
