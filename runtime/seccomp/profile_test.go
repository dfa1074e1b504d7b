package seccomp

import (
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestLoadProfile(t *testing.T) {
	const profile = `{
	"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
	"archMap": [
		{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
		{"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
	"syscalls": [
		{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
		{"name": "mkdir", "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
		{"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
		{"names": ["unshare"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
		{"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
		{"names": ["new_call"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "6.20"}},
		{"names": ["old_call"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "6.1"}},
		{"names": ["personality"], "action": "SCMP_ACT_ALLOW",
		 "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]}
	]}`
	one := uint(1)
	thirteen := uint(13)
	for _, tc := range []struct {
		name   string
		goarch string
		caps   []string
		arches []specs.Arch
		calls  []string
	}{
		{"amd64 without caps", "amd64", nil, []specs.Arch{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"},
			[]string{"read,write", "mkdir", "unshare", "arch_prctl", "personality"}},
		{"arm64 with SYS_ADMIN", "arm64", []string{"sys_admin"}, []specs.Arch{"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"},
			[]string{"read,write", "mkdir", "mount", "personality"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := loadProfile([]byte(profile), tc.caps, tc.goarch, [2]int{6, 18})
			if err != nil {
				t.Fatal(err)
			}
			if s.DefaultAction != specs.ActErrno || *s.DefaultErrnoRet != one || !reflect.DeepEqual(s.Architectures, tc.arches) {
				t.Errorf("profile %+v", s)
			}
			var calls []string
			for _, sc := range s.Syscalls {
				calls = append(calls, strings.Join(sc.Names, ","))
				if sc.Names[0] == "mkdir" && (sc.ErrnoRet == nil || *sc.ErrnoRet != thirteen) {
					t.Errorf("mkdir's errnoRet %v", sc.ErrnoRet)
				}
				if sc.Names[0] == "personality" && !reflect.DeepEqual(sc.Args, []specs.LinuxSeccompArg{{Index: 0, Value: 8, Op: specs.OpEqualTo}}) {
					t.Errorf("personality's args %+v", sc.Args)
				}
			}
			if !reflect.DeepEqual(calls, tc.calls) {
				t.Errorf("syscall rules %v, want %v", calls, tc.calls)
			}
			if tc.goarch == "amd64" {
				if _, err := Compile(s); err != nil {
					t.Errorf("compile: %v", err)
				}
			}
		})
	}
}

func TestLoadProfileErrors(t *testing.T) {
	for _, tc := range []struct{ profile, msg string }{
		{`{"defaultAction":`, "Decoding seccomp profile failed: unexpected end of JSON input"},
		{`[1]`, "Decoding seccomp profile failed: json: cannot unmarshal array"},
		{`{"syscalls":[]}`, "defaultAction is missing"},
		{`{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],"archMap":[{"architecture":"SCMP_ARCH_X86_64"}]}`,
			"both 'architectures' and 'archMap' are specified"},
		{`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"read","names":["write"],"action":"SCMP_ACT_ALLOW"}]}`,
			"'name' and 'names' were specified"},
		{`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"action":"SCMP_ACT_ALLOW"}]}`, "has no names"},
		{`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"six"}}]}`,
			`invalid kernel version "six"`},
	} {
		if _, err := loadProfile([]byte(tc.profile), nil, "amd64", [2]int{6, 18}); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v, want %q", tc.profile, err, tc.msg)
		}
	}
}
