package registry

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/berth-project/berth/content"
)

func TestParseChallenges(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values []string
		want   []challenge
	}{
		{"bearer", []string{`Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"`},
			[]challenge{{"bearer", map[string]string{"realm": "https://auth.docker.io/token", "service": "registry.docker.io", "scope": "repository:library/busybox:pull"}}}},
		{"comma in quotes", []string{`Bearer realm="https://r/token",scope="repository:a/b:pull,push"`},
			[]challenge{{"bearer", map[string]string{"realm": "https://r/token", "scope": "repository:a/b:pull,push"}}}},
		{"basic", []string{`Basic realm="Registry Realm"`},
			[]challenge{{"basic", map[string]string{"realm": "Registry Realm"}}}},
		{"two in one header", []string{`Basic realm="a, b", Bearer realm="https://t", service=svc`},
			[]challenge{{"basic", map[string]string{"realm": "a, b"}}, {"bearer", map[string]string{"realm": "https://t", "service": "svc"}}}},
		{"two headers, spaces, escapes", []string{`basic  realm = "x\"y"`, `BEARER realm="https://t" , error="insufficient_scope"`},
			[]challenge{{"basic", map[string]string{"realm": `x"y`}}, {"bearer", map[string]string{"realm": "https://t", "error": "insufficient_scope"}}}},
		{"scheme only", []string{`Negotiate`}, []challenge{{"negotiate", map[string]string{}}}},
		{"garbage", []string{`=,"`}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := parseChallenges(tc.values)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %#v\nwant %#v", got, tc.want)
			}
		})
	}
	ch, ok := pickChallenge(parseChallenges([]string{`Basic realm="x", Bearer realm="y"`}))
	if !ok || ch.scheme != "bearer" {
		t.Errorf("pickChallenge chose %v", ch)
	}
}

// writeConfig writes a docker config.json and returns its path.
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// helperOnPath puts a docker-credential-NAME script on PATH that answers
// for server with user and secret, and logs what it was asked to log.
func helperOnPath(t *testing.T, name, user, secret string) (log string) {
	t.Helper()
	dir := t.TempDir()
	log = filepath.Join(dir, "asked")
	script := "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread server\necho \"$server\" >>" + log + "\n" +
		"case \"$server\" in *127.0.0.1*|https://index.docker.io/v1/) printf '{\"ServerURL\":\"%s\",\"Username\":\"" + user + "\",\"Secret\":\"" + secret + "\"}' \"$server\";;\n" +
		"*) echo 'credentials not found in native keychain'; exit 1;;\nesac\n"
	if err := os.WriteFile(filepath.Join(dir, "docker-credential-"+name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return log
}

func TestCredentials(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	ctx := context.Background()
	helperOnPath(t, "berthtest", "helperuser", "helperpass")
	helperOnPath(t, "berthtoken", "<token>", "refresh-me")
	for _, tc := range []struct {
		name, config, host string
		want               Credentials
	}{
		{"auth", `{"auths":{"reg.example:5000":{"auth":"` + b64("u:p:with:colons") + `"}}}`, "reg.example:5000", Credentials{Username: "u", Password: "p:with:colons"}},
		{"username and password", `{"auths":{"https://reg.example/v1/":{"username":"u","password":"p"}}}`, "reg.example", Credentials{Username: "u", Password: "p"}},
		{"identity token", `{"auths":{"reg.example":{"auth":"` + b64("u:") + `","identitytoken":"tok"}}}`, "reg.example", Credentials{Username: "u", IdentityToken: "tok"}},
		{"docker hub key", `{"auths":{"https://index.docker.io/v1/":{"auth":"` + b64("hub:pw") + `"}}}`, "docker.io", Credentials{Username: "hub", Password: "pw"}},
		{"other host", `{"auths":{"reg.example":{"auth":"` + b64("u:p") + `"}}}`, "reg.example:5000", Credentials{}},
		{"cred helper", `{"credHelpers":{"127.0.0.1:5000":"berthtest"}}`, "127.0.0.1:5000", Credentials{Username: "helperuser", Password: "helperpass"}},
		{"creds store", `{"credsStore":"berthtest","auths":{"127.0.0.1:1":{}}}`, "127.0.0.1:1", Credentials{Username: "helperuser", Password: "helperpass"}},
		{"creds store hub", `{"credsStore":"berthtest"}`, "docker.io", Credentials{Username: "helperuser", Password: "helperpass"}},
		{"helper has none, auths has", `{"credsStore":"berthtest","auths":{"reg.example":{"auth":"` + b64("u:p") + `"}}}`, "reg.example", Credentials{Username: "u", Password: "p"}},
		{"helper identity token", `{"credHelpers":{"127.0.0.1:5000":"berthtoken"}}`, "127.0.0.1:5000", Credentials{IdentityToken: "refresh-me"}},
		{"helper not installed", `{"credsStore":"desktop-not-here"}`, "reg.example", Credentials{}},
		{"no config", ``, "reg.example", Credentials{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "missing.json")
			if tc.config != "" {
				path = writeConfig(t, tc.config)
			}
			c := NewClient(WithDockerConfig(path))
			got, err := c.credentials(ctx, tc.host)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	t.Run("malformed config", func(t *testing.T) {
		c := NewClient(WithDockerConfig(writeConfig(t, `{"auths":`)))
		if _, err := c.credentials(ctx, "reg.example"); err == nil || !strings.Contains(err.Error(), "read docker config") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestPlainHTTP(t *testing.T) {
	certs := t.TempDir()
	os.Mkdir(filepath.Join(certs, "127.0.0.1:5443"), 0o755)
	c := NewClient(WithInsecureRegistries("reg.lan:5000", "build.lan", "10.1.0.0/16"), WithCertsDir(certs))
	for host, want := range map[string]bool{
		"localhost": true, "localhost:5000": true, "127.0.0.1:5000": true, "127.3.2.1": true, "[::1]:5000": true,
		"127.0.0.1:5443": false, // has a certs dir: TLS
		"reg.lan:5000":   true, "reg.lan:5001": false, "build.lan:1234": true, "10.1.2.3:5000": true, "10.2.0.1": false,
		"registry-1.docker.io": false, "ghcr.io": false, "example.com:443": false,
	} {
		if got := c.plainHTTP(host); got != want {
			t.Errorf("plainHTTP(%q) = %v, want %v", host, got, want)
		}
	}
	if got := c.baseURL("docker.io"); got != "https://registry-1.docker.io/v2/" {
		t.Errorf("baseURL(docker.io) = %s", got)
	}
}

func TestFamiliarName(t *testing.T) {
	for _, tc := range [][3]string{
		{"docker.io", "library/busybox", "busybox"},
		{"docker.io", "user/app", "user/app"},
		{"ghcr.io", "org/app", "ghcr.io/org/app"},
	} {
		if got := familiarName(tc[0], tc[1]); got != tc[2] {
			t.Errorf("familiarName(%s, %s) = %s", tc[0], tc[1], got)
		}
	}
}

func TestBearer(t *testing.T) {
	ctx := context.Background()
	f := newFakeRegistry(t)
	f.auth, f.user, f.pass = "bearer", "alice", "s3cret"
	img := f.addImage("team/app", "v1", "application/vnd.oci.image.layer.v1.tar+gzip", []byte("layer one"), []byte("layer two"))
	cfg := writeConfig(t, `{"auths":{"`+f.host()+`":{"auth":"`+base64.StdEncoding.EncodeToString([]byte("alice:s3cret"))+`"}}}`)

	t.Run("token flow", func(t *testing.T) {
		c := NewClient(WithDockerConfig(cfg))
		store := newStore(t)
		if _, err := Pull(ctx, c, store, f.host(), "team/app", "v1", PullOptions{}); err != nil {
			t.Fatal(err)
		}
		toks := f.tokenLog()
		if len(toks) != 1 {
			t.Fatalf("%d token requests, want 1 (cached for the rest of the pull): %+v", len(toks), toks)
		}
		q := toks[0].Query
		if q.Get("service") != "fake, registry" || !reflect.DeepEqual(q["scope"], []string{"repository:team/app:pull"}) || q.Get("account") != "alice" {
			t.Errorf("token request query %v", q)
		}
		if toks[0].Authorization != "Basic "+base64.StdEncoding.EncodeToString([]byte("alice:s3cret")) {
			t.Errorf("token request Authorization %q", toks[0].Authorization)
		}
		// The first request went anonymous, got 401, and was retried with
		// the token; all later ones carried it from the start.
		reqs := f.log()
		if reqs[0].Authorization != "" || !strings.HasPrefix(reqs[1].Authorization, "Bearer ") || reqs[0].Path != reqs[1].Path {
			t.Errorf("first two requests: %+v", reqs[:2])
		}
		for _, r := range reqs[1:] {
			if !strings.HasPrefix(r.Authorization, "Bearer ") {
				t.Errorf("request without token after the first: %+v", r)
			}
		}
		if n := len(reqs); n != 2+1+len(img.layers) {
			t.Errorf("%d requests, want manifest twice, config and %d layers", n, len(img.layers))
		}
		// A second pull with the same client needs no new token.
		if _, _, err := c.Resolve(ctx, f.host(), "team/app", "v1"); err != nil {
			t.Fatal(err)
		}
		if n := len(f.tokenLog()); n != 1 {
			t.Errorf("%d token requests after a second resolve", n)
		}
	})

	t.Run("anonymous denied", func(t *testing.T) {
		c := NewClient(WithDockerConfig(filepath.Join(t.TempDir(), "none.json")))
		_, _, err := c.Resolve(ctx, f.host(), "team/app", "v1")
		want := "pull access denied for " + f.host() + "/team/app, repository does not exist or may require 'docker login'"
		if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, ErrDenied) {
			t.Fatalf("err = %v, want %q", err, want)
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		bad := writeConfig(t, `{"auths":{"`+f.host()+`":{"username":"alice","password":"nope"}}}`)
		_, _, err := NewClient(WithDockerConfig(bad)).Resolve(ctx, f.host(), "team/app", "v1")
		if err == nil || !strings.Contains(err.Error(), "incorrect username or password") || !errors.Is(err, ErrDenied) {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("identity token", func(t *testing.T) {
		f.refresh = "refresh-me"
		defer func() { f.refresh = "" }()
		helperOnPath(t, "berthtoken", "<token>", "refresh-me")
		c := NewClient(WithDockerConfig(writeConfig(t, `{"credHelpers":{"`+f.host()+`":"berthtoken"}}`)))
		before := len(f.tokenLog())
		if _, _, err := c.Resolve(ctx, f.host(), "team/app", "v1"); err != nil {
			t.Fatal(err)
		}
		r := f.tokenLog()[before]
		if r.Method != "POST" || r.Form.Get("grant_type") != "refresh_token" || r.Form.Get("refresh_token") != "refresh-me" || r.Form.Get("scope") != "repository:team/app:pull" {
			t.Errorf("token request %+v", r)
		}
	})
}

func TestBasic(t *testing.T) {
	ctx := context.Background()
	f := newFakeRegistry(t)
	f.auth, f.user, f.pass = "basic", "bob", "pw"
	f.addImage("app", "latest", "application/vnd.oci.image.layer.v1.tar+gzip", []byte("layer"))

	t.Run("config creds", func(t *testing.T) {
		c := NewClient(WithDockerConfig(writeConfig(t, `{"auths":{"http://`+f.host()+`/v2/":{"username":"bob","password":"pw"}}}`)))
		if _, err := Pull(ctx, c, newStore(t), f.host(), "app", "latest", PullOptions{}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("cred helper", func(t *testing.T) {
		log := helperOnPath(t, "berthbasic", "bob", "pw")
		c := NewClient(WithDockerConfig(writeConfig(t, `{"credsStore":"berthbasic"}`)))
		if _, err := Pull(ctx, c, newStore(t), f.host(), "app", "latest", PullOptions{}); err != nil {
			t.Fatal(err)
		}
		asked, _ := os.ReadFile(log)
		if string(asked) != f.host()+"\n" {
			t.Errorf("helper was asked %q, want once for %s", asked, f.host())
		}
	})
	t.Run("no creds", func(t *testing.T) {
		c := NewClient(WithDockerConfig(filepath.Join(t.TempDir(), "none.json")))
		_, err := Pull(ctx, c, newStore(t), f.host(), "app", "latest", PullOptions{})
		if err == nil || !strings.Contains(err.Error(), "pull access denied for "+f.host()+"/app, repository does not exist or may require 'docker login': unauthorized: authentication required") {
			t.Fatalf("err = %v", err)
		}
	})
}

func newStore(t *testing.T) *content.Local {
	t.Helper()
	s, err := content.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}
