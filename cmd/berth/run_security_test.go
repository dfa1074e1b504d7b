package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
)

func TestParseDevice(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want container.DeviceMapping
		err  string
	}{
		{"/dev/null", container.DeviceMapping{PathOnHost: "/dev/null", PathInContainer: "/dev/null", CgroupPermissions: "rwm"}, ""},
		{"/dev/null:/dev/n", container.DeviceMapping{PathOnHost: "/dev/null", PathInContainer: "/dev/n", CgroupPermissions: "rwm"}, ""},
		{"/dev/null:r", container.DeviceMapping{PathOnHost: "/dev/null", PathInContainer: "/dev/null", CgroupPermissions: "r"}, ""},
		{"/dev/zero:/dev/z:rw", container.DeviceMapping{PathOnHost: "/dev/zero", PathInContainer: "/dev/z", CgroupPermissions: "rw"}, ""},
		{"/dev/zero:/dev/z:rx", container.DeviceMapping{}, "bad mode specified: rx"},
		{"/dev/zero:dev/z", container.DeviceMapping{}, "dev/z is not an absolute path"},
		{":/dev/z", container.DeviceMapping{}, "bad format for path: :/dev/z"},
		{"/a:/b:r:x", container.DeviceMapping{}, "bad format for path"},
	} {
		got, err := parseDevice(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: %+v %v, want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseSecurityOpts(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "p.json")
	os.WriteFile(good, []byte("{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\"\n}\n"), 0o644)
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte("{nope"), 0o644)
	got, err := parseSecurityOpts([]string{"no-new-privileges", "seccomp=" + good, "seccomp=unconfined", "apparmor=x", "label:disable"})
	want := []string{"no-new-privileges", `seccomp={"defaultAction":"SCMP_ACT_ALLOW"}`, "seccomp=unconfined", "apparmor=x", "label:disable"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %q %v, want %q", got, err, want)
	}
	for _, tc := range []struct{ opt, err string }{
		{"nonsense", `Invalid --security-opt: "nonsense"`},
		{"apparmor=", `Invalid --security-opt: "apparmor="`},
		{"seccomp=" + filepath.Join(dir, "none.json"), "opening seccomp profile (" + filepath.Join(dir, "none.json") + ") failed"},
		{"seccomp=" + bad, "compacting json for seccomp profile (" + bad + ") failed"},
	} {
		if _, err := parseSecurityOpts([]string{tc.opt}); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %v, want %q", tc.opt, err, tc.err)
		}
	}
}
