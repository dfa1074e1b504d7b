package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/crypto/bcrypt"

	"github.com/berth-project/berth/internal/gate"
	"github.com/berth-project/berth/internal/imagetest"
)

// The registry tests run `berth registry serve` as a process, the way
// users run it, and drive it with the OCI conformance suite, skopeo and
// berth's own client.

// TestRegistryConformance runs the OCI distribution-spec conformance
// suite, every workflow and data set, against `berth registry serve` open
// to all, with basic auth over TLS, and with bearer tokens from its own
// token endpoint.
func TestRegistryConformance(t *testing.T) {
	gate.Root(t)
	for _, tc := range []struct {
		name string
		o    imagetest.RegistryOptions
	}{
		{"open", imagetest.RegistryOptions{}},
		{"basic-tls", imagetest.RegistryOptions{Auth: "htpasswd", TLS: true}},
		{"token", imagetest.RegistryOptions{Auth: "token"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := imagetest.StartBerthRegistry(t, berthBin, tc.o)
			imagetest.RunConformance(t, imagetest.ConformanceTarget{
				Host: r.Host, CACert: r.CACert, Username: r.Username, Password: r.Password,
			})
		})
	}
}

// regClient is a plain HTTP client of one registry, for the tests that
// look at status codes and headers themselves.
type regClient struct {
	t    *testing.T
	r    *imagetest.Registry
	hc   *http.Client
	auth string // Authorization header value
}

func newRegClient(t *testing.T, r *imagetest.Registry) *regClient {
	return &regClient{t: t, r: r, hc: &http.Client{Timeout: 30 * time.Second}}
}

func (c *regClient) do(method, path string, body io.Reader, hdr ...string) *http.Response {
	c.t.Helper()
	u := path
	if !strings.HasPrefix(u, "http") {
		u = c.r.URL() + path
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		c.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}

// want checks a response's status and, when code is not empty, the first
// error code of its body; it returns the body.
func want(t *testing.T, resp *http.Response, status int, code string) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d: %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, status, b)
	}
	if code != "" {
		var e struct {
			Errors []struct{ Code string } `json:"errors"`
		}
		if json.Unmarshal(b, &e) != nil || len(e.Errors) == 0 || e.Errors[0].Code != code {
			t.Fatalf("%s %s: body %s, want error code %s", resp.Request.Method, resp.Request.URL.Path, b, code)
		}
	}
	return b
}

// pushBlob uploads b to repo in one POST+PUT and returns its digest.
func (c *regClient) pushBlob(repo string, b []byte) digest.Digest {
	c.t.Helper()
	d := digest.FromBytes(b)
	resp := c.do("POST", "/v2/"+repo+"/blobs/uploads/", nil)
	want(c.t, resp, http.StatusAccepted, "")
	loc := c.location(resp)
	q := loc.Query()
	q.Set("digest", d.String())
	loc.RawQuery = q.Encode()
	want(c.t, c.do("PUT", loc.String(), bytes.NewReader(b), "Content-Type", "application/octet-stream"), http.StatusCreated, "")
	return d
}

func (c *regClient) location(resp *http.Response) *url.URL {
	c.t.Helper()
	loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
	if err != nil || resp.Header.Get("Location") == "" {
		c.t.Fatalf("%s %s: no usable Location: %q", resp.Request.Method, resp.Request.URL, resp.Header.Get("Location"))
	}
	return loc
}

// TestRegistryPlainAnswersTLS: clients (docker, containerd) try TLS
// first; a plain-http registry must turn the ClientHello away at once with
// something they recognise, not wait for a newline that never comes.
func TestRegistryPlainAnswersTLS(t *testing.T) {
	gate.Root(t)
	r := imagetest.StartBerthRegistry(t, berthBin, imagetest.RegistryOptions{})
	hc := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	_, err := hc.Get("https://" + r.Host + "/v2/")
	if err == nil || !strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		t.Fatalf("TLS client against the plain registry: %v; want \"server gave HTTP response to HTTPS client\"", err)
	}
	// The listener still serves plain http afterwards.
	want(t, newRegClient(t, r).do("GET", "/v2/", nil), http.StatusOK, "")
}

// registryLayout writes a busybox image with one extra layer holding motd,
// so that two images share the busybox layer and differ in one.
func registryLayout(t *testing.T, motd string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	imagetest.BusyboxLayout(t, dir, imagetest.LayoutOptions{ExtraLayers: []imagetest.Layer{
		{Entries: []imagetest.Entry{imagetest.File("etc/motd", motd)}},
	}})
	return dir
}

// skopeoCopy runs skopeo copy with the registry's TLS and credentials.
func skopeoCopy(t *testing.T, r *imagetest.Registry, creds bool, src, dst string) (string, error) {
	t.Helper()
	skopeo := gate.Command(t, "skopeo")
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.json")
	os.WriteFile(policy, []byte(`{"default":[{"type":"insecureAcceptAnything"}]}`), 0o600)
	authFile := filepath.Join(dir, "auth.json")
	os.WriteFile(authFile, []byte(`{}`), 0o600)
	args := []string{"--policy", policy, "copy", "--authfile", authFile, "--src-tls-verify=false", "--dest-tls-verify=false"}
	if creds {
		if strings.HasPrefix(src, "docker://") {
			args = append(args, "--src-creds", r.Username+":"+r.Password)
		} else {
			args = append(args, "--dest-creds", r.Username+":"+r.Password)
		}
	}
	args = append(args, src, dst)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, skopeo, args...).CombinedOutput()
	return string(out), err
}

// TestRegistryClients: what skopeo pushes, skopeo and berth pull back
// with every digest kept, and a container runs from it.
func TestRegistryClients(t *testing.T) {
	c := newCLI(t)
	r := imagetest.StartBerthRegistry(t, berthBin, imagetest.RegistryOptions{})
	layout := registryLayout(t, "served by berth\n")
	ref := r.Host + "/team/motd:1"
	r.PushLayout(t, layout, ref)

	out := filepath.Join(t.TempDir(), "out")
	if o, err := skopeoCopy(t, r, false, "docker://"+ref, "oci:"+out+":1"); err != nil {
		t.Fatalf("skopeo copy out: %v\n%s", err, o)
	}
	var in, back struct {
		Manifests []struct{ Digest string } `json:"manifests"`
	}
	readJSONFile(t, filepath.Join(layout, "index.json"), &in)
	readJSONFile(t, filepath.Join(out, "index.json"), &back)
	if len(back.Manifests) != 1 || back.Manifests[0].Digest != in.Manifests[0].Digest {
		t.Fatalf("skopeo got %v back, pushed %v", back.Manifests, in.Manifests)
	}

	c.ok("pull", ref)
	if got := strings.TrimSpace(c.ok("run", "--rm", ref, "cat", "/etc/motd")); got != "served by berth" {
		t.Fatalf("container of the pulled image says %q", got)
	}
}

func readJSONFile(t *testing.T, p string, v any) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", p, err)
	}
}

// TestRegistryAnonymousRead: with an htpasswd file and --anonymous-read,
// anyone pulls, only accounts push, and wrong passwords are refused.
func TestRegistryAnonymousRead(t *testing.T) {
	gate.Root(t)
	r := imagetest.StartBerthRegistry(t, berthBin, imagetest.RegistryOptions{Auth: "htpasswd"}, "--anonymous-read")
	layout := registryLayout(t, "public\n")
	ref := r.Host + "/pub/motd:1"
	if o, err := skopeoCopy(t, r, false, "oci:"+layout, "docker://"+ref); err == nil {
		t.Fatalf("anonymous skopeo push succeeded:\n%s", o)
	}
	r.PushLayout(t, layout, ref) // with the account
	if o, err := skopeoCopy(t, r, false, "docker://"+ref, "oci:"+filepath.Join(t.TempDir(), "o")+":1"); err != nil {
		t.Fatalf("anonymous pull: %v\n%s", err, o)
	}

	hc := newRegClient(t, r)
	resp := hc.do("POST", "/v2/pub/motd/blobs/uploads/", nil)
	if ch := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "Basic ") {
		t.Errorf("anonymous push challenge %q, want Basic", ch)
	}
	want(t, resp, http.StatusUnauthorized, "UNAUTHORIZED")
	hc.auth = "Basic " + basic(r.Username, "wrong")
	want(t, hc.do("POST", "/v2/pub/motd/blobs/uploads/", nil), http.StatusUnauthorized, "UNAUTHORIZED")
	hc.auth = "Basic " + basic(r.Username, r.Password)
	want(t, hc.do("POST", "/v2/pub/motd/blobs/uploads/", nil), http.StatusAccepted, "")
}

func basic(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
}

// token asks the registry's token endpoint for scope as user (no user:
// anonymously) and returns the token and the actions it grants.
func token(t *testing.T, r *imagetest.Registry, user, pass, scope string) (string, []string) {
	t.Helper()
	q := url.Values{"service": {"berth-registry"}, "scope": {scope}}
	req, _ := http.NewRequest("GET", r.TokenURL+"?"+q.Encode(), nil)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b := want(t, resp, http.StatusOK, "")
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(b, &tok); err != nil || tok.Token == "" {
		t.Fatalf("token endpoint said %s", b)
	}
	parts := strings.Split(tok.Token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a JWS", tok.Token)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Access []struct {
			Type, Name string
			Actions    []string
		} `json:"access"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	var acts []string
	for _, a := range claims.Access {
		acts = append(acts, a.Actions...)
	}
	return tok.Token, acts
}

// TestRegistryTokenScopes: with token auth and an ACL, a reader's token
// grants pull only, and with it a push is refused however it is asked;
// a writer's token pushes.
func TestRegistryTokenScopes(t *testing.T) {
	gate.Root(t)
	dir := t.TempDir()
	acl := filepath.Join(dir, "acl.json")
	os.WriteFile(acl, []byte(`[{"account":"berth","name":"*","actions":["pull","push","delete"]},
		{"account":"reader","name":"*","actions":["pull"]}]`), 0o600)
	r := imagetest.StartBerthRegistry(t, berthBin, imagetest.RegistryOptions{Auth: "token"}, "--acl", acl)
	// A second account: append to the htpasswd file the registry reads
	// (it notices the change).
	addUser(t, filepath.Join(filepath.Dir(r.Root), "htpasswd"), "reader", "reader-secret")

	layout := registryLayout(t, "token\n")
	r.PushLayout(t, layout, r.Host+"/motd:1")

	hc := newRegClient(t, r)
	resp := hc.do("POST", "/v2/motd/blobs/uploads/", nil)
	ch := resp.Header.Get("WWW-Authenticate")
	if !strings.HasPrefix(ch, "Bearer ") || !strings.Contains(ch, `scope="repository:motd:`) || !strings.Contains(ch, "push") {
		t.Errorf("push challenge %q names no push scope", ch)
	}
	want(t, resp, http.StatusUnauthorized, "UNAUTHORIZED")

	tok, acts := token(t, r, "reader", "reader-secret", "repository:motd:pull,push")
	if strings.Join(acts, ",") != "pull" {
		t.Fatalf("reader's token grants %v, want pull only", acts)
	}
	hc.auth = "Bearer " + tok
	want(t, hc.do("GET", "/v2/motd/manifests/1", nil, "Accept", "application/vnd.oci.image.manifest.v1+json"), http.StatusOK, "")
	resp = hc.do("POST", "/v2/motd/blobs/uploads/", nil)
	if ch := resp.Header.Get("WWW-Authenticate"); !strings.Contains(ch, "insufficient_scope") {
		t.Errorf("pull-only token's push challenge %q does not say insufficient_scope", ch)
	}
	want(t, resp, http.StatusUnauthorized, "UNAUTHORIZED")
	want(t, hc.do("DELETE", "/v2/motd/manifests/1", nil), http.StatusUnauthorized, "UNAUTHORIZED")
	// Tampering with the token (claiming push) breaks its signature.
	parts := strings.Split(tok, ".")
	forged, _ := json.Marshal(map[string]any{"access": []map[string]any{{"type": "repository", "name": "motd", "actions": []string{"pull", "push"}}}})
	hc.auth = "Bearer " + parts[0] + "." + base64.RawURLEncoding.EncodeToString(forged) + "." + parts[2]
	want(t, hc.do("POST", "/v2/motd/blobs/uploads/", nil), http.StatusUnauthorized, "UNAUTHORIZED")

	// Anonymous callers, who may do nothing here, get a token that grants
	// nothing, so that docker stops at the registry's refusal instead of
	// retrying the token endpoint.
	tok, acts = token(t, r, "", "", "repository:motd:pull,push")
	if len(acts) != 0 {
		t.Fatalf("anonymous token grants %v", acts)
	}
	hc.auth = "Bearer " + tok
	want(t, hc.do("GET", "/v2/motd/manifests/1", nil), http.StatusUnauthorized, "UNAUTHORIZED")
	tok, acts = token(t, r, r.Username, r.Password, "repository:motd:pull,push")
	if strings.Join(acts, ",") != "pull,push" {
		t.Fatalf("writer's token grants %v", acts)
	}
	hc.auth = "Bearer " + tok
	hc.pushBlob("motd", []byte("pushed with a token"))
}

func addUser(t *testing.T, htpasswd, user, pass string) {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(htpasswd, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fmt.Fprintf(f, "%s:%s\n", user, hash)
	// A later mtime than the registry saw, even on a coarse clock.
	future := time.Now().Add(2 * time.Second)
	os.Chtimes(htpasswd, future, future)
}

// TestRegistryKilledDuringPush: a registry killed with SIGKILL in the
// middle of a blob upload comes back clean: the blob is not visible, the
// dead upload is gone once its time is up, and the same blob pushes again.
func TestRegistryKilledDuringPush(t *testing.T) {
	gate.Root(t)
	r := imagetest.StartBerthRegistry(t, berthBin, imagetest.RegistryOptions{}, "--upload-ttl", "1s")
	hc := newRegClient(t, r)
	blob := bytes.Repeat([]byte("0123456789abcdef"), 4<<20) // 64 MiB
	d := digest.FromBytes(blob)

	resp := hc.do("POST", "/v2/crash/blobs/uploads/", nil)
	want(t, resp, http.StatusAccepted, "")
	loc := hc.location(resp)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest("PATCH", loc.String(), pr)
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	if _, err := pw.Write(blob[:16<<20]); err != nil {
		t.Fatal(err)
	}
	r.Kill()
	pw.CloseWithError(io.ErrUnexpectedEOF)
	<-done

	time.Sleep(1100 * time.Millisecond) // the upload outlives its TTL
	r.Restart(t)
	want(t, hc.do("HEAD", "/v2/crash/blobs/"+d.String(), nil), http.StatusNotFound, "")
	want(t, hc.do("GET", loc.String(), nil), http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
	if ents, _ := os.ReadDir(filepath.Join(r.Root, "ingest")); len(ents) != 0 {
		t.Errorf("the dead upload's ingest is still there after restart: %v", ents)
	}
	if got := hc.pushBlob("crash", blob); got != d {
		t.Fatalf("pushed %s", got)
	}
	resp = hc.do("GET", "/v2/crash/blobs/"+d.String(), nil)
	b := want(t, resp, http.StatusOK, "")
	if !bytes.Equal(b, blob) {
		t.Fatal("the blob pushed after the restart reads back different")
	}
}

// TestRegistryGC: gc removes what no manifest references once a manifest
// is deleted, keeps what another image still uses, refuses to run beside a
// live registry, and lists without deleting in a dry run.
func TestRegistryGC(t *testing.T) {
	c := newCLI(t)
	r := imagetest.StartBerthRegistry(t, berthBin, imagetest.RegistryOptions{})
	keep, drop := registryLayout(t, "keep\n"), registryLayout(t, "drop\n")
	r.PushLayout(t, keep, r.Host+"/gc/keep:1")
	r.PushLayout(t, drop, r.Host+"/gc/drop:1")
	var idx struct {
		Manifests []struct{ Digest string } `json:"manifests"`
	}
	readJSONFile(t, filepath.Join(drop, "index.json"), &idx)
	var m struct {
		Config struct{ Digest string }
		Layers []struct{ Digest string }
	}
	readJSONFile(t, filepath.Join(drop, "blobs", strings.Replace(idx.Manifests[0].Digest, ":", "/", 1)), &m)
	unique := []string{m.Config.Digest, m.Layers[len(m.Layers)-1].Digest}
	shared := m.Layers[0].Digest // busybox, in keep too

	hc := newRegClient(t, r)
	want(t, hc.do("DELETE", "/v2/gc/drop/manifests/"+idx.Manifests[0].Digest, nil), http.StatusAccepted, "")
	c.fails("in use", "registry", "gc", "--root", r.Root)

	r.Kill()
	dry := c.ok("registry", "gc", "--root", r.Root, "--dry-run")
	for _, d := range unique {
		if !strings.Contains(dry, d) {
			t.Errorf("dry run does not list %s:\n%s", d, dry)
		}
	}
	if strings.Contains(dry, shared) {
		t.Errorf("dry run would delete the shared layer %s:\n%s", shared, dry)
	}
	blobFile := func(d string) string { return filepath.Join(r.Root, "blobs", strings.Replace(d, ":", "/", 1)) }
	if _, err := os.Stat(blobFile(unique[1])); err != nil {
		t.Fatalf("dry run deleted: %v", err)
	}
	c.ok("registry", "gc", "--root", r.Root)
	for _, d := range unique {
		if _, err := os.Stat(blobFile(d)); err == nil {
			t.Errorf("gc left %s", d)
		}
	}
	r.Restart(t)
	c.ok("pull", r.Host+"/gc/keep:1")
	want(t, hc.do("HEAD", "/v2/gc/drop/blobs/"+unique[1], nil), http.StatusNotFound, "")
	if got := strings.TrimSpace(c.ok("run", "--rm", r.Host+"/gc/keep:1", "cat", "/etc/motd")); got != "keep" {
		t.Fatalf("kept image's container says %q", got)
	}
}

// TestRegistryPushSearch: berth's own client against berth's registry —
// push sends only what is missing and mounts across repositories, search
// finds repositories by name and by the image's description, and what
// was pushed pulls into a fresh data root and runs.
func TestRegistryPushSearch(t *testing.T) {
	c := newCLI(t)
	r := imagetest.StartBerthRegistry(t, berthBin, imagetest.RegistryOptions{})
	layout := filepath.Join(t.TempDir(), "layout")
	imagetest.BusyboxLayout(t, layout, imagetest.LayoutOptions{
		ExtraLayers: []imagetest.Layer{{Entries: []imagetest.Entry{imagetest.File("etc/motd", "searchable\n")}}},
		Config: &ocispec.ImageConfig{
			Env: []string{"PATH=/bin"}, Cmd: []string{"sh"},
			Labels: map[string]string{"org.opencontainers.image.description": "A motd for the search test"},
		},
	})
	src := r.Host + "/team/motd"
	r.PushLayout(t, layout, src+":1")
	r.PushLayout(t, layout, src+":2")

	c.ok("pull", src+":1")
	dst := r.Host + "/mirror/motd:1"
	c.ok("tag", src+":1", dst)
	out := c.ok("push", dst)
	if !strings.Contains(out, "Mounted from team/motd") || strings.Contains(out, "Pushed") {
		t.Fatalf("push of a retag did not mount its layers:\n%s", out)
	}
	if out := c.ok("push", dst); !strings.Contains(out, "Layer already exists") {
		t.Fatalf("second push:\n%s", out)
	}

	out = c.ok("search", r.Host+"/motd")
	if !strings.Contains(out, "team/motd") || !strings.Contains(out, "mirror/motd") {
		t.Fatalf("search by name:\n%s", out)
	}
	out = c.ok("search", "--format", "{{.Name}} {{.Description}}", r.Host+"/for the search")
	if !strings.Contains(out, "team/motd A motd for the search test") {
		t.Fatalf("search by description:\n%s", out)
	}
	out = c.ok("search", "--format", "{{.Name}} {{.TagCount}}", r.Host+"/team")
	if strings.TrimSpace(out) != "team/motd 2" {
		t.Fatalf("search's tag count:\n%s", out)
	}

	fresh := newCLI(t)
	fresh.ok("pull", dst)
	if got := strings.TrimSpace(fresh.ok("run", "--rm", dst, "cat", "/etc/motd")); got != "searchable" {
		t.Fatalf("container of the pushed image says %q", got)
	}
}

// TestRegistryServeBadInput: settings that cannot work are refused before
// anything listens, each naming what is wrong; a config file's settings
// apply, and flags win over it.
func TestRegistryServeBadInput(t *testing.T) {
	c := newCLI(t)
	dir := t.TempDir()
	file := func(name, s string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(s), 0o600)
		return p
	}
	root := filepath.Join(dir, "root")
	c.fails(`unknown field "htpasswrd"`, "registry", "serve", "--root", root, "--config", file("typo.json", `{"auth": {"htpasswrd": "/h"}}`))
	c.fails("TLS needs both a certificate and a key", "registry", "serve", "--root", root, "--tls-cert", "/nonexistent.crt")
	c.fails("token auth needs an htpasswd file", "registry", "serve", "--root", root, "--token")
	c.fails("no such file", "registry", "serve", "--root", root, "--htpasswd", filepath.Join(dir, "missing"))
	c.fails("line 1", "registry", "serve", "--root", root, "--htpasswd", file("md5", "alice:$apr1$abc$def\n"))
	c.fails("no actions", "registry", "serve", "--root", root, "--htpasswd", file("ok", "a:$2y$05$abcdefghijklmnopqrstuu5e0FZ6hSyk1NHk3bLZ2bbbqMvf7Hv.i\n"),
		"--acl", file("acl.json", `[{"account": "a", "name": "x"}]`))

	// The config file makes the registry read-only; a flag could undo it.
	r := imagetest.StartBerthRegistry(t, berthBin, imagetest.RegistryOptions{}, "--config", file("ro.json", `{"readOnly": true}`))
	c.fails("address already in use", "registry", "serve", "--root", root, "--addr", r.Host)
	want(t, newRegClient(t, r).do("POST", "/v2/ro/blobs/uploads/", nil), http.StatusMethodNotAllowed, "UNSUPPORTED")
	if _, err := os.Stat(root); err == nil {
		t.Errorf("a registry that did not start left its storage %s behind", root)
	}
}
