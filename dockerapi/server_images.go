package dockerapi

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/registry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/engine"
)

// authHeader is the registry credentials header: base64url JSON of a
// registry.AuthConfig, passed through to the engine.
const authHeader = registry.AuthHeader

// imageCreate is POST /images/create: a pull (fromImage, tag). An import
// (fromSrc) is not part of engine.API.
func (h *handler) imageCreate(c *call) error {
	fromImage, tag, platform := c.q.str("fromImage"), c.q.str("tag"), c.q.str("platform")
	if fromImage == "" {
		if c.q.str("fromSrc") != "" {
			return engine.Errorf(engine.KindNotImplemented, "importing an image through the API (fromSrc) is not supported: use berth import")
		}
		return engine.Invalid("bad parameter: fromImage or fromSrc is required")
	}
	// "pull -a" may send the name with a trailing ':'.
	img := strings.TrimSuffix(fromImage, ":")
	repo, own := splitRef(img)
	ref := img
	if tag != "" {
		ref = joinRef(repo, tag)
	}
	o := engine.PullRequest{
		Platform:     platform,
		RegistryAuth: c.r.Header.Get(authHeader),
		// No tag anywhere: every tag of the repository, as docker does.
		All: tag == "" && own == "",
	}
	rc, err := h.api.ImagePull(c.ctx, ref, o)
	if err != nil {
		return err
	}
	return stream(c.w, "application/json", rc)
}

func (h *handler) imageList(c *call) error {
	o := engine.ImageListOptions{All: c.q.bool("all"), Filters: c.q.filters(), Digests: c.q.bool("digests")}
	_, _ = c.q.bool("shared-size"), c.q.bool("manifests")
	if c.q.err != nil {
		return c.q.err
	}
	list, err := h.api.ImageList(c.ctx, o)
	if err != nil {
		return err
	}
	if list == nil {
		list = []image.Summary{}
	}
	for i := range list {
		if list[i].RepoTags == nil {
			list[i].RepoTags = []string{}
		}
		if list[i].RepoDigests == nil {
			list[i].RepoDigests = []string{}
		}
	}
	return writeJSON(c.w, http.StatusOK, list)
}

func (h *handler) imageInspect(c *call) error {
	resp, err := h.api.ImageInspect(c.ctx, c.name)
	if err != nil {
		return err
	}
	if resp.RepoTags == nil {
		resp.RepoTags = []string{}
	}
	if resp.RepoDigests == nil {
		resp.RepoDigests = []string{}
	}
	return writeJSON(c.w, http.StatusOK, withLegacyImageFields(resp, c.version))
}

// legacyImage is an image's inspect with the fields API 1.45 dropped
// (Container, ContainerConfig) and, before 1.44, VirtualSize. docker-py 5
// clients such as Debian's docker-compose 1.29 negotiate the server's
// newest version and still index ContainerConfig["Volumes"] when they
// recreate a container: dockerd 25 and later answer without it and break
// them (docker/compose#11742). berth keeps the two fields at every
// version; newer clients ignore a field they do not know.
type legacyImage struct {
	image.InspectResponse
	Container       string
	ContainerConfig container.Config
	VirtualSize     int64 `json:",omitempty"`
}

// withLegacyImageFields fills the old fields. ContainerConfig was the
// config of the container that made the image's last layer; berth keeps no
// such container, so it is the image's own config (its volumes are the
// ones an old client carries over) in a container config's shape, all
// fields present as dockerd writes them, zero without a config.
func withLegacyImageFields(resp image.InspectResponse, version string) legacyImage {
	l := legacyImage{InspectResponse: resp}
	if resp.Config != nil {
		// The image config's fields are a subset of the container
		// config's, with the same names and shapes.
		if b, err := json.Marshal(resp.Config); err == nil {
			json.Unmarshal(b, &l.ContainerConfig)
		}
	}
	if !versionAtLeast(version, "1.44") {
		l.VirtualSize = resp.Size
	}
	return l
}

func (h *handler) imageHistory(c *call) error {
	hist, err := h.api.ImageHistory(c.ctx, c.name)
	if err != nil {
		return err
	}
	if hist == nil {
		hist = []image.HistoryResponseItem{}
	}
	return writeJSON(c.w, http.StatusOK, hist)
}

func (h *handler) imageTag(c *call) error {
	repo, tag := c.q.str("repo"), c.q.str("tag")
	if repo == "" {
		return engine.Invalid("bad parameter: repo cannot be empty")
	}
	if err := h.api.ImageTag(c.ctx, c.name, joinRef(repo, tag)); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusCreated)
	return nil
}

// pushPlatform reads push's platform: docker sends the JSON of an OCI
// platform; "os/arch[/variant]" is taken as well.
func pushPlatform(s string) (string, error) {
	if !strings.HasPrefix(strings.TrimSpace(s), "{") {
		return s, nil
	}
	var p ocispec.Platform
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		return "", engine.Invalid("failed to parse platform: %v", err)
	}
	if p.OS == "" || p.Architecture == "" {
		return "", engine.Invalid("both OS and Architecture must be provided")
	}
	out := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		out += "/" + p.Variant
	}
	return out, nil
}

func (h *handler) imagePush(c *call) error {
	tag := c.q.str("tag")
	platform, err := pushPlatform(c.q.str("platform"))
	if err != nil {
		return err
	}
	repo, own := splitRef(c.name)
	ref := c.name
	if tag != "" {
		ref = joinRef(repo, tag)
	}
	o := engine.PushRequest{
		All:          tag == "" && own == "",
		RegistryAuth: c.r.Header.Get(authHeader),
		Platform:     platform,
	}
	rc, err := h.api.ImagePush(c.ctx, ref, o)
	if err != nil {
		return err
	}
	return stream(c.w, "application/json", rc)
}

func (h *handler) imageRemove(c *call) error {
	if strings.TrimSpace(c.name) == "" {
		return engine.Invalid("image name cannot be blank")
	}
	o := engine.ImageRemoveOptions{Force: c.q.bool("force"), NoPrune: c.q.bool("noprune")}
	if c.q.err != nil {
		return c.q.err
	}
	list, err := h.api.ImageRemove(c.ctx, c.name, o)
	if err != nil {
		return err
	}
	if list == nil {
		list = []image.DeleteResponse{}
	}
	return writeJSON(c.w, http.StatusOK, list)
}

func (h *handler) imagesPrune(c *call) error {
	f := c.q.filters()
	if c.q.err != nil {
		return c.q.err
	}
	rep, err := h.api.ImagesPrune(c.ctx, f)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, rep)
}

// imageSave is GET /images/get?names=… and GET /images/{name}/get.
func (h *handler) imageSave(c *call) error {
	names := c.q.v["names"]
	if c.name != "" {
		names = []string{c.name}
	}
	rc, err := h.api.ImageSave(c.ctx, names)
	if err != nil {
		return err
	}
	return stream(c.w, "application/x-tar", rc)
}

func (h *handler) imageLoad(c *call) error {
	quiet := c.q.boolDefault("quiet", true)
	if c.q.err != nil {
		return c.q.err
	}
	// The engine may still read the tar while the progress goes out.
	_ = http.NewResponseController(c.w).EnableFullDuplex()
	rc, err := h.api.ImageLoad(c.ctx, c.r.Body, quiet)
	if err != nil {
		return err
	}
	return stream(c.w, "application/json", rc)
}

func (h *handler) imageSearch(c *call) error {
	term := c.q.str("term")
	o := engine.SearchRequest{
		Limit:        c.q.int("limit", 0),
		Filters:      c.q.filters(),
		RegistryAuth: c.r.Header.Get(authHeader),
	}
	if c.q.err != nil {
		return c.q.err
	}
	if o.Limit < 0 {
		return engine.Invalid("invalid limit specified")
	}
	res, err := h.api.ImageSearch(c.ctx, term, o)
	if err != nil {
		return err
	}
	if res == nil {
		res = []registry.SearchResult{}
	}
	return writeJSON(c.w, http.StatusOK, res)
}
