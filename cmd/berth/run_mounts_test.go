package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/mount"
)

// TestRunMountFlags: -v, --mount, --tmpfs, --volumes-from, --volume-driver
// -> the create request, as docker's CLI builds it.
func TestRunMountFlags(t *testing.T) {
	wd, _ := os.Getwd()
	req := createRequest(t,
		"-v", "/host:/h:ro", "-v", "named:/n", "-v", "/anon", "-v", "./rel:/r", "--volume", "../up:/u:rw,Z",
		"--mount", "type=bind,src=/s,dst=/b,readonly,bind-propagation=rslave,bind-nonrecursive",
		"--mount", "source=v2,target=/v,volume-nocopy,volume-label=a=b,volume-opt=type=tmpfs,volume-opt=device=tmpfs,volume-driver=local,volume-subpath=sub/dir",
		"--mount", "type=tmpfs,destination=/t,tmpfs-size=64m,tmpfs-mode=1770,ro=false",
		"--mount", `type=volume,dst=/c,"volume-opt=o=size=1m,uid=5"`,
		"--tmpfs", "/run:size=1m,mode=755", "--tmpfs", "/x",
		"--volumes-from", "other:ro", "--volume-driver", "local",
	)
	hc := req.HostConfig
	sameJSON(t, "binds", hc.Binds, []string{"/host:/h:ro", "named:/n", filepath.Join(wd, "rel") + ":/r", filepath.Join(filepath.Dir(wd), "up") + ":/u:rw,Z"})
	sameJSON(t, "volumes", req.Config.Volumes, map[string]struct{}{"/anon": {}})
	sameJSON(t, "mounts", hc.Mounts, []mount.Mount{
		{Type: mount.TypeBind, Source: "/s", Target: "/b", ReadOnly: true, BindOptions: &mount.BindOptions{Propagation: mount.PropagationRSlave, NonRecursive: true}},
		{Type: mount.TypeVolume, Source: "v2", Target: "/v", VolumeOptions: &mount.VolumeOptions{
			NoCopy: true, Labels: map[string]string{"a": "b"}, Subpath: "sub/dir",
			DriverConfig: &mount.Driver{Name: "local", Options: map[string]string{"type": "tmpfs", "device": "tmpfs"}},
		}},
		{Type: mount.TypeTmpfs, Target: "/t", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 64 << 20, Mode: 0o1770}},
		{Type: mount.TypeVolume, Target: "/c", VolumeOptions: &mount.VolumeOptions{DriverConfig: &mount.Driver{Options: map[string]string{"o": "size=1m,uid=5"}}}},
	})
	sameJSON(t, "tmpfs", hc.Tmpfs, map[string]string{"/run": "size=1m,mode=755", "/x": ""})
	sameJSON(t, "volumes-from", hc.VolumesFrom, []string{"other:ro"})
	if hc.VolumeDriver != "local" {
		t.Errorf("volume driver %q", hc.VolumeDriver)
	}
}

// TestRunMountFlagErrors: docker's client-side errors, before any request.
func TestRunMountFlagErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--mount", "type=bind,src=/x"}, `invalid argument "type=bind,src=/x" for "--mount" flag: target is required`},
		{[]string{"--mount", "type=bind,dst=/x,foo=bar"}, `invalid argument "type=bind,dst=/x,foo=bar" for "--mount" flag: unexpected key 'foo' in 'foo=bar'`},
		{[]string{"--mount", "dst=/x,bogus"}, `invalid argument "dst=/x,bogus" for "--mount" flag: invalid field 'bogus' must be a key=value pair`},
		{[]string{"--mount", "type=tmpfs,dst=/x,volume-nocopy"}, `invalid argument "type=tmpfs,dst=/x,volume-nocopy" for "--mount" flag: cannot mix 'volume-*' options with mount type 'tmpfs'`},
		{[]string{"--mount", "type=volume,dst=/x,bind-propagation=shared"}, `cannot mix 'bind-*' options with mount type 'volume'`},
		{[]string{"--mount", "type=bind,src=/a,dst=/x,tmpfs-size=1m"}, `cannot mix 'tmpfs-*' options with mount type 'bind'`},
		{[]string{"--mount", "type=tmpfs,dst=/x,tmpfs-mode=99"}, `invalid value for tmpfs-mode: 99`},
		{[]string{"--mount", "type=tmpfs,dst=/x,tmpfs-size=lots"}, `invalid value for tmpfs-size: lots`},
		{[]string{"--mount", "type=,dst=/x"}, `type is required`},
		{[]string{"--mount", "dst=/x,ro=maybe"}, `invalid value for ro: maybe`},
		{[]string{"-v", "a::/b"}, `invalid spec: a::/b: empty section between colons`},
	} {
		r := berth(t, &fakeAPI{createID: fullID}, "", append(append([]string{"create"}, tt.args...), "busybox")...)
		if r.code != 125 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%q: exit %d, stderr %q; want 125 and %q", tt.args, r.code, r.stderr, tt.want)
		}
	}
}
