// Package monitor is the small per-container process that owns a running
// container: it creates and starts it through the runtime (so the
// container's init is its child), keeps its stdio (pipes or a pty), writes
// its logs, serves attach, resize and wait on unix sockets, and records the
// exit code in a file when the container ends. The engine can stop, crash
// or restart meanwhile; it finds the monitor again by its directory.
//
// The monitor is the berth binary itself, run by Start as
// `berth monitor DIR`: this package's initialization takes over such a
// process (before the packages the monitor does not use are initialized),
// and cmd/berth dispatches on IsMonitor too. Its directory holds:
//
//	config.json   the Config, written by Start
//	ctl.sock      requests, one JSON line per connection:
//	              {"op":"ping"}, {"op":"wait"}, {"op":"resize","height":H,"width":W},
//	              {"op":"attach","stdin":true,"stdout":true,"stderr":true};
//	              {"op":"health"} (a health status line now, then one at each change);
//	              the answer is one JSON line ({"error":...}, {"exit":{...}} for
//	              wait, once the container has exited); after an attach answer
//	              the connection carries the streams
//	monitor.pid   while the monitor runs
//	exit.json     the Exit, written (atomically) before waiters are answered
//	health.json   the container's docker Health (status, failing streak, the
//	              last 5 probe results), rewritten atomically after each probe
//	              of the health check the monitor runs (Config.Health); kept
//	              after the run, and its log into the next run
//	console.sock  briefly, while the runtime sends the pty master
//
// When the container's init exits the monitor reaps it, deletes the
// container through the runtime (its cgroup takes any process left with
// it), reads the output to its end, gives attached clients the rest of it,
// writes exit.json, answers every wait, removes its sockets and exits.
package monitor
