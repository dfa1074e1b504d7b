package registry

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/gate"
)

// serveSkopeoTarget serves r's handler with Serve on a plain listener
// until the test ends, and returns its address.
func serveSkopeoTarget(t *testing.T, r *tokenRegistry) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, r.srv.Config.Handler, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return ln.Addr().String()
}

type skopeoCase struct {
	name string
	args []string
	ref  string
	want string // in the error output; "" for success
}

// runSkopeoInspect runs skopeo inspect --raw for each case against host.
// With --tls-verify=false skopeo tries HTTPS first and falls back to HTTP
// only when the server answers its TLS handshake.
func runSkopeoInspect(t *testing.T, skopeo, host string, cases []skopeoCase) {
	home := t.TempDir()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			args := append([]string{"--debug", "inspect", "--raw", "--tls-verify=false"}, tc.args...)
			cmd := exec.CommandContext(ctx, skopeo, append(args, "docker://"+host+"/"+tc.ref)...)
			cmd.Env = append(os.Environ(), "HOME="+home, "XDG_RUNTIME_DIR="+home, "REGISTRY_AUTH_FILE="+filepath.Join(home, "auth.json"))
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if ctx.Err() != nil {
				t.Fatalf("skopeo did not finish: %s", stderr.String())
			}
			out := strings.ToLower(stderr.String())
			switch {
			case tc.want == "" && (err != nil || strings.TrimSpace(stdout.String()) != tokenTestOCI):
				t.Errorf("skopeo: %v: %s%s", err, stdout.String(), stderr.String())
			case tc.want != "" && (err == nil || !strings.Contains(out, tc.want)):
				t.Errorf("skopeo: %v: %s, want an error saying %q", err, stderr.String(), tc.want)
			}
			// It tried HTTPS first, and the plain listener told it so.
			if !strings.Contains(out, "server gave http response to https client") {
				t.Errorf("skopeo did not fall back from HTTPS: %s", stderr.String())
			}
		})
	}
}

// TestTokenAuthSkopeo has another client implementation, containers/image
// in skopeo, fetch tokens from the issuer and present them to the
// Authorizer, through Serve's plain listener.
func TestTokenAuthSkopeo(t *testing.T) {
	skopeo := gate.Command(t, "skopeo")
	users, err := LoadHtpasswd(writeHtpasswd(t, "", "alice", "apw"))
	if err != nil {
		t.Fatal(err)
	}
	r := newTokenRegistry(t, TokenIssuerOptions{Users: users, ACL: ACL{
		{Account: "alice", Name: "alice/**", Actions: []string{"*"}},
		{Account: "", Name: "public/*", Actions: []string{"pull"}},
	}})
	runSkopeoInspect(t, skopeo, serveSkopeoTarget(t, r), []skopeoCase{
		{"credentials", []string{"--creds", "alice:apw"}, "alice/app:latest", ""},
		{"anonymous where anonymous may pull", []string{"--no-creds"}, "public/app:latest", ""},
		{"anonymous elsewhere", []string{"--no-creds"}, "alice/app:latest", "unauthorized"},
		{"wrong password", []string{"--creds", "alice:nope"}, "alice/app:latest", "incorrect username or password"},
	})
}

// TestBasicAuthSkopeo is the same with basic auth.
func TestBasicAuthSkopeo(t *testing.T) {
	skopeo := gate.Command(t, "skopeo")
	users, err := LoadHtpasswd(writeHtpasswd(t, "", "alice", "apw"))
	if err != nil {
		t.Fatal(err)
	}
	r := newTokenRegistry(t, TokenIssuerOptions{Users: users})
	r.authz = NewBasicAuthorizer(users, WithACL(ACL{
		{Account: "alice", Name: "alice/**", Actions: []string{"*"}},
		{Account: "", Name: "public/*", Actions: []string{"pull"}},
	}))
	runSkopeoInspect(t, skopeo, serveSkopeoTarget(t, r), []skopeoCase{
		{"credentials", []string{"--creds", "alice:apw"}, "alice/app:latest", ""},
		{"anonymous where anonymous may pull", []string{"--no-creds"}, "public/app:latest", ""},
		{"anonymous elsewhere", []string{"--no-creds"}, "alice/app:latest", "unauthorized"},
		{"wrong password", []string{"--creds", "alice:nope"}, "alice/app:latest", "unauthorized"},
		{"denied", []string{"--creds", "alice:apw"}, "bob/app:latest", "denied"},
	})
}
