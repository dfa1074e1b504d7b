package network

import (
	"reflect"
	"strings"
	"testing"
)

func TestParsePortSpec(t *testing.T) {
	one := func(ip, host, ctr string) []PortSpec { return []PortSpec{{HostIP: ip, HostPort: host, Container: ctr}} }
	for _, tc := range []struct {
		spec string
		want []PortSpec
	}{
		{"80", one("", "", "80/tcp")},
		{"80/udp", one("", "", "80/udp")},
		{"80/SCTP", one("", "", "80/sctp")},
		{"80/", one("", "", "80/tcp")},
		{":80", one("", "", "80/tcp")},
		{"0123", one("", "", "123/tcp")},
		{"8000:80", one("", "8000", "80/tcp")},
		{"0:80", one("", "0", "80/tcp")},
		{"127.0.0.1:8000:80", one("127.0.0.1", "8000", "80/tcp")},
		{"127.0.0.1::80", one("127.0.0.1", "", "80/tcp")},
		{"0.0.0.0:8000:80/udp", one("0.0.0.0", "8000", "80/udp")},
		{"[::1]:8000:80", one("::1", "8000", "80/tcp")},
		{"::1:8000:80", one("::1", "8000", "80/tcp")},
		{"[2001:db8::68]::333", one("2001:db8::68", "", "333/tcp")},
		{"2001:db8::68::333", one("2001:db8::68", "", "333/tcp")},
		{"::::80", one("::", "", "80/tcp")},
		{"8000-8010:80", one("", "8000-8010", "80/tcp")},
		{"127.0.0.1:8000-8010:80/udp", one("127.0.0.1", "8000-8010", "80/udp")},
		{"8000-8000:80", one("", "8000", "80/tcp")},
		{"8000:80-80", one("", "8000", "80/tcp")},
		{"8000-8002:80-82/udp", []PortSpec{
			{HostPort: "8000", Container: "80/udp"},
			{HostPort: "8001", Container: "81/udp"},
			{HostPort: "8002", Container: "82/udp"},
		}},
		{"80-82", []PortSpec{{Container: "80/tcp"}, {Container: "81/tcp"}, {Container: "82/tcp"}}},
		{"10.1.2.3::80-81", []PortSpec{{HostIP: "10.1.2.3", Container: "80/tcp"}, {HostIP: "10.1.2.3", Container: "81/tcp"}}},
		{"65535:65535", one("", "65535", "65535/tcp")},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			got, err := ParsePortSpec(tc.spec)
			if err != nil {
				t.Fatalf("ParsePortSpec(%q): %v", tc.spec, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParsePortSpec(%q) = %+v, want %+v", tc.spec, got, tc.want)
			}
		})
	}
}

func TestParsePortSpecErrors(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want string // the error, or its start when it ends with "..."
	}{
		{"", "no port specified: <empty>"},
		{"8000:", "no port specified: 8000:<empty>"},
		{"127.0.0.1:8000:", "no port specified: 127.0.0.1:8000:<empty>"},
		{"/udp", "no port specified: /udp<empty>"},
		{"80/icmp", "invalid proto: icmp"},
		{"80/tcp/udp", "invalid proto: tcp/udp"},
		{"localhost:8000:80", "invalid IP address: localhost"},
		{"1.2.3:8000:80", "invalid IP address: 1.2.3"},
		{"[::1:8000:80", "invalid IP address [::1: ..."},
		{"[127.0.0.1]x:8000:80", "invalid IP address [127.0.0.1]x: ..."},
		{"192.168.1.100", "invalid containerPort: 192.168.1.100"},
		{"abc", "invalid containerPort: abc"},
		{"65536", "invalid containerPort: 65536"},
		{"-1", "invalid containerPort: -1"},
		{"1.2.3.4:-1:-1", "invalid containerPort: -1"},
		{"82-80", "invalid containerPort: 82-80"},
		{"80-", "invalid containerPort: 80-"},
		{"80-90-100", "invalid containerPort: 80-90-100"},
		{"x:80", "invalid hostPort: x"},
		{"65536:80", "invalid hostPort: 65536"},
		{"8010-8000:80", "invalid hostPort: 8010-8000"},
		{"8000-8001:80-82", "invalid ranges specified for container and host Ports: 80-82 and 8000-8001"},
		{"8000:80-82", "invalid ranges specified for container and host Ports: 80-82 and 8000"},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			got, err := ParsePortSpec(tc.spec)
			if err == nil {
				t.Fatalf("ParsePortSpec(%q) = %+v, want error %q", tc.spec, got, tc.want)
			}
			if prefix, ok := strings.CutSuffix(tc.want, "..."); ok {
				if !strings.HasPrefix(err.Error(), prefix) {
					t.Errorf("ParsePortSpec(%q): %q, want %q", tc.spec, err, tc.want)
				}
			} else if err.Error() != tc.want {
				t.Errorf("ParsePortSpec(%q): %q, want %q", tc.spec, err, tc.want)
			}
		})
	}
}
