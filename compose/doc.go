// Package compose runs multi-container applications from compose files:
// the file is loaded by compose-spec/compose-go (the reference loader)
// into a types.Project, and each command becomes ordered calls on an
// engine.API, so it works in-process and against a daemon alike.
//
// Resources carry docker compose's labels (com.docker.compose.project,
// .service, .container-number, .oneoff, .config-hash, ...) so docker's
// tools, and docker compose itself, recognise them. Containers are named
// PROJECT-SERVICE-N, networks PROJECT_NET, volumes PROJECT_VOL, as compose
// v2 names them.
//
// Up converges: a container whose config-hash label (and image) matches
// the service's is left alone, a changed one is recreated, missing
// replicas are created and surplus ones removed.
package compose
