package dockerapi

import (
	"encoding/json"
	"net/http"
	"testing"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/image"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestImageInspectLegacyFields: image inspect carries Container and
// ContainerConfig at every API version (and VirtualSize before 1.44, as
// dockerd does): docker-compose 1.29 negotiates the newest version (1.50
// here) and indexes ContainerConfig when it recreates a container.
func TestImageInspectLegacyFields(t *testing.T) {
	withConfig := image.InspectResponse{ID: "sha256:aa", Size: 1234, Config: &dockerspec.DockerOCIImageConfig{
		ImageConfig: ocispec.ImageConfig{Volumes: map[string]struct{}{"/data": {}}, Cmd: []string{"sh"}},
	}}
	tests := []struct {
		name        string
		path        string
		resp        image.InspectResponse
		virtualSize bool
		volumes     bool
	}{
		{"compose 1.29", "/v1.38/images/app/json", withConfig, true, true},
		{"1.43", "/v1.43/images/app/json", withConfig, true, true},
		{"1.44", "/v1.44/images/app/json", withConfig, false, true},
		{"no config", "/v1.38/images/app/json", image.InspectResponse{ID: "sha256:bb", Size: 1234}, true, false},
		{"1.45", "/v1.45/images/app/json", withConfig, false, true},
		{"negotiated 1.50", "/v1.50/images/app/json", withConfig, false, true},
		{"unversioned", "/images/app/json", withConfig, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFake()
			fake.set("ImageInspect", tc.resp)
			resp := do(t, NewHandler(fake), http.MethodGet, tc.path, "", "")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, readAll(resp.Body))
			}
			var got map[string]json.RawMessage
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatal(err)
			}
			_, hasCC := got["ContainerConfig"]
			_, hasC := got["Container"]
			_, hasVS := got["VirtualSize"]
			if !hasCC || !hasC || hasVS != tc.virtualSize {
				t.Fatalf("ContainerConfig %v, Container %v, VirtualSize %v; want true, true, %v", hasCC, hasC, hasVS, tc.virtualSize)
			}
			var cc map[string]json.RawMessage
			if err := json.Unmarshal(got["ContainerConfig"], &cc); err != nil {
				t.Fatalf("ContainerConfig is not an object: %s", got["ContainerConfig"])
			}
			// Every field of a container config is there, as dockerd
			// writes them; Volumes are the image's.
			for _, k := range []string{"Hostname", "User", "Env", "Cmd", "Image", "Volumes", "WorkingDir", "Entrypoint", "Labels"} {
				if _, ok := cc[k]; !ok {
					t.Fatalf("ContainerConfig %s: no %s", got["ContainerConfig"], k)
				}
			}
			if hasVolumes := string(cc["Volumes"]) == `{"/data":{}}`; hasVolumes != tc.volumes {
				t.Fatalf("ContainerConfig %s: Volumes %s, want the image's: %v", got["ContainerConfig"], cc["Volumes"], tc.volumes)
			}
			if tc.virtualSize && string(got["VirtualSize"]) != "1234" {
				t.Fatalf("VirtualSize %s, want the size", got["VirtualSize"])
			}
			if string(got["Id"]) != `"`+tc.resp.ID+`"` {
				t.Fatalf("Id %s: the current fields must stay", got["Id"])
			}
		})
	}
}
