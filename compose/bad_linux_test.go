package compose

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-project/berth/engine"
)

// TestBadInput: a file at fault gives an error naming what is wrong, and
// nothing is created: no container, network or volume.
func TestBadInput(t *testing.T) {
	e := realEngine(t)
	ctx := context.Background()
	base := "services:\n  web:\n    image: busybox:latest\n    command: [sleep, '60']\n    init: true\n    volumes: [data:/data]\n"
	cases := []struct {
		name, yaml string
		want       string
		atLoad     bool
	}{
		{"unknown key", base + "    foo: bar\nvolumes:\n  data:\n", `services.web additional properties 'foo' not allowed`, true},
		{"unknown build key", "services:\n  web:\n    build:\n      context: .\n      colour: red\n", `services.web.build additional properties 'colour' not allowed`, true},
		{"unknown top-level key", base + "volumes:\n  data:\nfoo: 1\n", `additional properties 'foo' not allowed`, true},
		{"missing variable", "services:\n  web:\n    image: ${X:?missing}\n", `required variable X is missing a value: missing`, true},
		{"depends_on cycle", "services:\n  a:\n    image: busybox\n    depends_on: [b]\n  b:\n    image: busybox\n    depends_on: [c]\n  c:\n    image: busybox\n    depends_on: [a]\n", "dependency cycle detected", true},
		{"missing build context", base + "  other:\n    build: ./nowhere\nvolumes:\n  data:\n", `unable to prepare context: path`, false},
		{"missing secret file", base + "    secrets: [key]\nvolumes:\n  data:\nsecrets:\n  key:\n    file: ./nokey.pem\n", `secret key`, false},
		{"external network missing", base + "    networks: [outside]\nvolumes:\n  data:\nnetworks:\n  outside:\n    external: true\n", "network outside declared as external, but could not be found", false},
		{"engine refuses a service", base + "  bad:\n    image: busybox:latest\n    command: [sleep, '60']\n    cap_add: [NOT_A_CAP]\n    depends_on: [web]\nvolumes:\n  data:\n", "NOT_A_CAP", false},
		{"unsupported field", base + "    gpus: all\nvolumes:\n  data:\n", "not supported by berth: gpus", false},
		{"image that cannot be pulled", base + "  other:\n    image: 127.0.0.1:1/nowhere:1\nvolumes:\n  data:\n", "127.0.0.1:1/nowhere:1", false},
		{"link alias", base + "  other:\n    image: busybox:latest\n    links: [web:www]\nvolumes:\n  data:\n", "link alias is not supported", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			f := filepath.Join(dir, "compose.yaml")
			must(t, os.WriteFile(f, []byte(tc.yaml), 0o644))
			p, err := Load(ctx, LoadOptions{ConfigFiles: []string{f}, ProjectName: "bad", Environ: []string{}})
			if tc.atLoad {
				t.Logf("Load: %v", err)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("Load: %v, want an error with %q", err, tc.want)
				}
				return
			}
			must(t, err)
			err = New(e, nil).Up(ctx, p, UpOptions{Detach: true})
			t.Logf("Up: %v", err)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Up: %v, want an error with %q", err, tc.want)
			}
			if l := leftovers(t, e, "bad"); len(l) != 0 {
				t.Errorf("left behind: %v", l)
			}
			if all, _ := e.ContainerList(ctx, engine.ListOptions{All: true}); len(all) != 0 {
				t.Errorf("%d containers left", len(all))
			}
		})
	}
}
