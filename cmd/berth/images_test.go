package main

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	"github.com/moby/moby/api/pkg/authconfig"

	"github.com/berth-project/berth/image"
)

// TestRegistryAuth: the credentials docker's config.json keeps for a
// reference's registry go with the pull as X-Registry-Auth.
func TestRegistryAuth(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", dir)
	cfg := `{"auths":{
		"https://index.docker.io/v1/":{"auth":"` + base64.StdEncoding.EncodeToString([]byte("hubuser:hubpass")) + `"},
		"registry.example:5000":{"username":"me","password":"secret"},
		"empty.example":{}}}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ref, user, pass string
	}{
		{"busybox", "hubuser", "hubpass"},
		{"registry.example:5000/team/app:1", "me", "secret"},
		{"other.example/app", "", ""},
		{"empty.example/app", "", ""},
	}
	for _, tt := range tests {
		ref, err := image.ParseReference(tt.ref)
		if err != nil {
			t.Fatal(err)
		}
		enc, err := registryAuth(ref)
		if err != nil {
			t.Fatalf("%s: %v", tt.ref, err)
		}
		if tt.user == "" {
			if enc != "" {
				t.Errorf("%s: credentials %q, want none", tt.ref, enc)
			}
			continue
		}
		ac, err := authconfig.Decode(enc)
		if err != nil || ac.Username != tt.user || ac.Password != tt.pass {
			t.Errorf("%s: %+v, %v", tt.ref, ac, err)
		}
	}
	os.WriteFile(filepath.Join(dir, "config.json"), []byte("{nope"), 0o600)
	if _, err := registryAuth(image.Reference{Domain: "docker.io", Path: "library/busybox"}); err == nil {
		t.Error("a broken config.json read fine")
	}
}
