// Package runtime is berth's OCI runtime: it creates, starts, signals, inspects
// and deletes containers from OCI bundles, and runs the hidden `berth init`
// child that builds the container (namespaces, rootfs, pivot_root, /proc, /dev,
// masked paths, capabilities, rlimits, no_new_privs) and waits to exec the
// user's program as PID 1.
//
// The on-disk state of each container lives in Root/<id>: state.json and,
// until the container is started, the exec fifo the init process blocks on.
// No berth process stays behind once create or start has returned.
package runtime
