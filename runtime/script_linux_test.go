package runtime_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runcScript is written for runc: it is driven by $RUNC and checks what runc
// prints. berth must pass it unchanged.
const runcScript = `set -eu
cd "$BUNDLE"
rm -f config.json
$RUNC spec
# Make the spec detachable and long-running: no terminal, a sleep.
sed -i 's/"terminal": true/"terminal": false/; s/"sh"$/"sleep", "1000"/' config.json
grep -q '"sleep", "1000"' config.json
$RUNC --root "$STATE" create --pid-file "$BUNDLE/pid" c1 </dev/null >/dev/null 2>&1
$RUNC --root "$STATE" state c1 | grep -q '"status": "created"'
$RUNC --root "$STATE" start c1
$RUNC --root "$STATE" state c1 | grep -q '"status": "running"'
$RUNC --root "$STATE" state c1 | grep -q "\"pid\": $(cat "$BUNDLE/pid")"
$RUNC --root "$STATE" list | grep -E -q '^c1 +[0-9]+ +running'
$RUNC --root "$STATE" list --format json | grep -q '"id":"c1"'
out=$($RUNC --root "$STATE" exec c1 sh -c 'echo $((6*7))')
[ "$out" = 42 ]
if $RUNC --root "$STATE" exec c1 sh -c 'exit 3'; then echo "exec exit code lost"; exit 1; fi
$RUNC --root "$STATE" ps c1 | grep -q 'sleep 1000'
if $RUNC --root "$STATE" delete c1 2>/dev/null; then echo "deleted a running container"; exit 1; fi
$RUNC --root "$STATE" kill c1 KILL
for i in $(seq 100); do
	$RUNC --root "$STATE" state c1 | grep -q '"status": "stopped"' && break
	sleep 0.05
done
$RUNC --root "$STATE" state c1 | grep -q '"status": "stopped"'
$RUNC --root "$STATE" delete c1
if $RUNC --root "$STATE" state c1 2>/dev/null; then echo "state of a deleted container"; exit 1; fi
echo script-ok
`

// TestRuncScript runs a script written for runc with berth in runc's place
// (as the berth-runtime link), and with runc itself where it is installed, so
// that the script is known to be fair.
func TestRuncScript(t *testing.T) {
	e := newEnv(t)
	runtimes := map[string]string{"berth": filepath.Join(filepath.Dir(berthBin), "berth-runtime")}
	if runc, err := exec.LookPath("runc"); err == nil {
		runtimes["runc"] = runc
	} else {
		t.Log("runc is not installed: running the script with berth only")
	}
	for name, bin := range runtimes {
		t.Run(name, func(t *testing.T) {
			b := newBundle(t, "true")
			os.Remove(filepath.Join(b.dir, "config.json"))
			state := filepath.Join(t.TempDir(), "state")
			t.Cleanup(func() {
				exec.Command(bin, "--root", state, "delete", "--force", "c1").Run()
				if name == "berth" {
					checkNoLeftovers(t, state, "c1")
				}
			})
			cmd := exec.Command("sh", "-c", runcScript)
			cmd.Env = append(os.Environ(), "RUNC="+bin, "BUNDLE="+b.dir, "STATE="+state)
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "script-ok") {
				t.Fatalf("runc script with %s: %v\n%s", name, err, out)
			}
		})
	}
	_ = e
}
