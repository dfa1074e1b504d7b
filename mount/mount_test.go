package mount

import (
	"reflect"
	"testing"
)

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want Options
	}{
		{"empty", nil, Options{}},
		{"flags", []string{"nosuid", "noexec", "nodev", "ro"}, Options{Flags: NOSUID | NOEXEC | NODEV | RDONLY}},
		{"later wins", []string{"ro", "rw"}, Options{}},
		{"rbind", []string{"rbind", "rprivate"}, Options{Flags: BIND | REC, Propagation: []uintptr{PRIVATE | REC}}},
		{"data", []string{"nosuid", "mode=755", "size=65536k"}, Options{Flags: NOSUID, Data: "mode=755,size=65536k"}},
		{"recursive attrs", []string{"rro", "rnosuid", "rsuid"}, Options{RecAttrSet: AttrRDONLY, RecAttrClr: AttrNOSUID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseOptions(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseOptions(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestIsBind(t *testing.T) {
	for _, m := range []Mount{{Type: "bind"}, {Type: "none", Options: []string{"rbind"}}} {
		if !m.IsBind() {
			t.Errorf("%+v: not a bind", m)
		}
	}
	if (&Mount{Type: "tmpfs"}).IsBind() {
		t.Error("tmpfs reported as bind")
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`/a\040b`:   "/a b",
		`/tab\011x`: "/tab\tx",
		`/back\134`: `/back\`,
		`/plain`:    "/plain",
		`/short\04`: `/short\04`,
	} {
		t.Run(in, func(t *testing.T) {
			if got := Unescape(in); got != want {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
}
