package network

import (
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/miekg/dns"
)

func TestWriteRecordsAndConfig(t *testing.T) {
	dir := t.TempDir()
	recs := Records{Names: map[string][]netip.Addr{
		"web":      {netip.MustParseAddr("172.18.0.2")},
		"web.net1": {netip.MustParseAddr("172.18.0.2")},
	}}
	rp := filepath.Join(dir, "records.json")
	if err := WriteRecords(rp, recs); err != nil {
		t.Fatal(err)
	}
	conf := DNSConfig{Records: []string{rp}, Upstream: []string{"8.8.8.8", "10.0.0.1:5353"}}
	cp := filepath.Join(dir, "dns.json")
	if err := WriteDNSConfig(cp, conf); err != nil {
		t.Fatal(err)
	}
	// Again, over the old files.
	recs.Names["db"] = []netip.Addr{netip.MustParseAddr("172.18.0.3")}
	if err := WriteRecords(rp, recs); err != nil {
		t.Fatal(err)
	}
	var gotR Records
	var gotC DNSConfig
	for path, v := range map[string]any{rp: &gotR, cp: &gotC} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v, want 0644", path, fi.Mode())
		}
		data, _ := os.ReadFile(path)
		if err := json.Unmarshal(data, v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	if !reflect.DeepEqual(gotR, recs) || !reflect.DeepEqual(gotC, conf) {
		t.Errorf("read back %+v %+v, want %+v %+v", gotR, gotC, recs, conf)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("files left in the directory: %v, want the two written", entries)
	}
	if err := WriteRecords(filepath.Join(dir, "missing", "r.json"), recs); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
}

func TestUpstreamAddr(t *testing.T) {
	tests := []struct{ in, want string }{
		{"8.8.8.8", "8.8.8.8:53"},
		{"8.8.8.8:5353", "8.8.8.8:5353"},
		{"::1", "[::1]:53"},
		{"2001:db8::1", "[2001:db8::1]:53"},
		{"[2001:db8::1]:5353", "[2001:db8::1]:5353"},
		{"[2001:db8::1]", "[2001:db8::1]:53"},
		{"dns.example", "dns.example:53"},
		{"dns.example:54", "dns.example:54"},
	}
	for _, tc := range tests {
		if got := upstreamAddr(tc.in); got != tc.want {
			t.Errorf("upstreamAddr(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestPtrAddr(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" not a reverse IPv4 name
	}{
		{"2.0.18.172.in-addr.arpa", "172.18.0.2"},
		{"255.255.255.255.in-addr.arpa", "255.255.255.255"},
		{"0.18.172.in-addr.arpa", ""},
		{"1.2.0.18.172.in-addr.arpa", ""},
		{"256.0.18.172.in-addr.arpa", ""},
		{"02.0.18.172.in-addr.arpa", ""},
		{"a.0.18.172.in-addr.arpa", ""},
		{"2.0.18.172.ip6.arpa", ""},
		{"web", ""},
	}
	for _, tc := range tests {
		a, ok := ptrAddr(tc.in)
		if got := map[bool]string{true: a.String(), false: ""}[ok]; got != tc.want {
			t.Errorf("ptrAddr(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseRecords(t *testing.T) {
	data := []byte(`{"names":{
		"Web.": ["172.18.0.2"],
		"web.net1": ["172.18.0.2"],
		"0123456789ab": ["172.18.0.2"],
		"db": ["172.18.0.3", "::ffff:172.18.0.4", "2001:db8::1"],
		"cache": ["172.18.0.5"], "alpha": ["172.18.0.5"]}}`)
	rf, err := parseRecords(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddr
	wantNames := map[string][]netip.Addr{
		"web": {a("172.18.0.2")}, "web.net1": {a("172.18.0.2")}, "0123456789ab": {a("172.18.0.2")},
		"db": {a("172.18.0.3"), a("172.18.0.4")}, "cache": {a("172.18.0.5")}, "alpha": {a("172.18.0.5")},
	}
	if !reflect.DeepEqual(rf.names, wantNames) {
		t.Errorf("names %v, want %v", rf.names, wantNames)
	}
	wantPTR := map[netip.Addr]string{a("172.18.0.2"): "web", a("172.18.0.3"): "db", a("172.18.0.4"): "db", a("172.18.0.5"): "alpha"}
	if !reflect.DeepEqual(rf.ptr, wantPTR) {
		t.Errorf("ptr %v, want %v", rf.ptr, wantPTR)
	}
	if _, err := parseRecords([]byte(`{"names":`), nil); err == nil {
		t.Error("truncated JSON parsed")
	}
}

// TestResolverAnswers runs the resolver's answers without a namespace or
// a server: records, and a forward to no upstream.
func TestResolverAnswers(t *testing.T) {
	dir := t.TempDir()
	rp := filepath.Join(dir, "r.json")
	if err := WriteRecords(rp, Records{Names: map[string][]netip.Addr{"web": {netip.MustParseAddr("10.1.0.2")}}}); err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(dir, "c.json")
	if err := WriteDNSConfig(cp, DNSConfig{Records: []string{rp, filepath.Join(dir, "not-yet.json")}}); err != nil {
		t.Fatal(err)
	}
	r, err := newResolver(cp)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		qtype  uint16
		rcode  int
		answer []string
	}{
		{"web.", dns.TypeA, dns.RcodeSuccess, []string{"web.\t600\tIN\tA\t10.1.0.2"}},
		{"WeB.", dns.TypeA, dns.RcodeSuccess, []string{"WeB.\t600\tIN\tA\t10.1.0.2"}},
		{"web.", dns.TypeAAAA, dns.RcodeSuccess, nil},
		{"web.", dns.TypeMX, dns.RcodeSuccess, nil},
		{"2.0.1.10.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, []string{"2.0.1.10.in-addr.arpa.\t600\tIN\tPTR\tweb."}},
		// Not ours, and no upstream to ask.
		{"other.", dns.TypeA, dns.RcodeServerFailure, nil},
		{"3.0.1.10.in-addr.arpa.", dns.TypePTR, dns.RcodeServerFailure, nil},
	}
	for _, tc := range tests {
		q := new(dns.Msg).SetQuestion(tc.name, tc.qtype)
		resp := r.answer(q)
		var got []string
		for _, rr := range resp.Answer {
			got = append(got, rr.String())
		}
		if resp.Id != q.Id || resp.Rcode != tc.rcode || !reflect.DeepEqual(got, tc.answer) {
			t.Errorf("%s %s: id %d rcode %s answer %q, want id %d %s %q", tc.name, dns.TypeToString[tc.qtype],
				resp.Id, dns.RcodeToString[resp.Rcode], got, q.Id, dns.RcodeToString[tc.rcode], tc.answer)
		}
	}
	// The second record file appears.
	if err := WriteRecords(filepath.Join(dir, "not-yet.json"), Records{Names: map[string][]netip.Addr{"db": {netip.MustParseAddr("10.1.0.3")}}}); err != nil {
		t.Fatal(err)
	}
	resp := r.answer(new(dns.Msg).SetQuestion("db.", dns.TypeA))
	if len(resp.Answer) != 1 || !resp.Answer[0].(*dns.A).A.Equal(net.ParseIP("10.1.0.3")) {
		t.Errorf("db after its record file appeared: %v", resp)
	}
}

func TestNewResolverErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := newResolver(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("missing config accepted")
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte("{not json"), 0o644)
	if _, err := newResolver(bad); err == nil {
		t.Error("bad config accepted")
	}
}
