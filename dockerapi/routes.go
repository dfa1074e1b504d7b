package dockerapi

import "net/http"

// routeTable lists the routes in moby's order of precedence: fixed paths
// before the {name} patterns that would also match them.
func (h *handler) routeTable() []route {
	const (
		get, head, post, put, del = http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete
	)
	return []route{
		// System.
		newRoute(get, "/_ping", h.ping),
		newRoute(head, "/_ping", h.ping),
		newRoute(get, "/version", h.version),
		newRoute(get, "/info", h.info),
		newRoute(get, "/system/df", h.diskUsage),
		newRoute(get, "/events", h.events),

		// Containers.
		newRoute(get, "/containers/json", h.containerList),
		newRoute(post, "/containers/create", h.containerCreate),
		newRoute(post, "/containers/prune", h.containersPrune),
		newRoute(head, "/containers/{name}/archive", h.containerStatPath),
		newRoute(get, "/containers/{name}/export", h.containerExport),
		newRoute(get, "/containers/{name}/changes", h.containerChanges),
		newRoute(get, "/containers/{name}/json", h.containerInspect),
		newRoute(get, "/containers/{name}/top", h.containerTop),
		newRoute(get, "/containers/{name}/logs", h.containerLogs),
		newRoute(get, "/containers/{name}/stats", h.containerStats),
		newRoute(get, "/containers/{name}/attach/ws", h.containerAttachWS),
		newRoute(get, "/containers/{name}/archive", h.copyFromContainer),
		newRoute(post, "/containers/{name}/kill", h.containerKill),
		newRoute(post, "/containers/{name}/pause", h.containerPause),
		newRoute(post, "/containers/{name}/unpause", h.containerUnpause),
		newRoute(post, "/containers/{name}/restart", h.containerRestart),
		newRoute(post, "/containers/{name}/start", h.containerStart),
		newRoute(post, "/containers/{name}/stop", h.containerStop),
		newRoute(post, "/containers/{name}/wait", h.containerWait),
		newRoute(post, "/containers/{name}/resize", h.containerResize),
		newRoute(post, "/containers/{name}/attach", h.containerAttach),
		newRoute(post, "/containers/{name}/exec", h.execCreate),
		newRoute(post, "/containers/{name}/rename", h.containerRename),
		newRoute(post, "/containers/{name}/update", h.containerUpdate),
		newRoute(put, "/containers/{name}/archive", h.copyToContainer),
		newRoute(del, "/containers/{name}", h.containerRemove),

		// Exec.
		newRoute(get, "/exec/{name}/json", h.execInspect),
		newRoute(post, "/exec/{name}/start", h.execStart),
		newRoute(post, "/exec/{name}/resize", h.execResize),

		// Images.
		newRoute(get, "/images/json", h.imageList),
		newRoute(get, "/images/search", h.imageSearch),
		newRoute(get, "/images/get", h.imageSave),
		newRoute(get, "/images/{name}/get", h.imageSave),
		newRoute(get, "/images/{name}/history", h.imageHistory),
		newRoute(get, "/images/{name}/json", h.imageInspect),
		newRoute(post, "/images/load", h.imageLoad),
		newRoute(post, "/images/create", h.imageCreate),
		newRoute(post, "/images/prune", h.imagesPrune),
		newRoute(post, "/images/{name}/push", h.imagePush),
		newRoute(post, "/images/{name}/tag", h.imageTag),
		newRoute(del, "/images/{name}", h.imageRemove),

		// Builds and commits.
		newRoute(post, "/build", h.build),
		newRoute(post, "/build/prune", h.buildPrune),
		newRoute(post, "/commit", h.commit),

		// Networks.
		newRoute(get, "/networks", h.networkList),
		newRoute(get, "/networks/", h.networkList),
		newRoute(get, "/networks/{name}", h.networkInspect),
		newRoute(post, "/networks/create", h.networkCreate),
		newRoute(post, "/networks/prune", h.networksPrune),
		newRoute(post, "/networks/{name}/connect", h.networkConnect),
		newRoute(post, "/networks/{name}/disconnect", h.networkDisconnect),
		newRoute(del, "/networks/{name}", h.networkRemove),

		// Volumes.
		newRoute(get, "/volumes", h.volumeList),
		newRoute(post, "/volumes/create", h.volumeCreate),
		newRoute(post, "/volumes/prune", h.volumesPrune),
		newRoute(get, "/volumes/{name}", h.volumeInspect),
		newRoute(del, "/volumes/{name}", h.volumeRemove),

		// Secrets and configs (swarm's routes, served by the standalone engine).
		newRoute(get, "/secrets", h.secretList),
		newRoute(post, "/secrets/create", h.secretCreate),
		newRoute(get, "/secrets/{name}", h.secretInspect),
		newRoute(del, "/secrets/{name}", h.secretRemove),
		newRoute(get, "/configs", h.configList),
		newRoute(post, "/configs/create", h.configCreate),
		newRoute(get, "/configs/{name}", h.configInspect),
		newRoute(del, "/configs/{name}", h.configRemove),
	}
}
