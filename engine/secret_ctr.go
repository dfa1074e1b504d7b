package engine

import (
	"context"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// CONTRACT STUB (issue 8): owned by the secrets helper.

// resolveSecrets checks the secrets and configs a create asks for exist,
// fills in their defaults and sets r.Secrets and r.Configs.
func (e *Engine) resolveSecrets(ctx context.Context, r *ctrRecord, secrets, configs []FileRef) error {
	if len(secrets)+len(configs) > 0 {
		return Errorf(KindNotImplemented, "secrets: not implemented yet")
	}
	return nil
}

// secretsUp writes r's secret and config files, decrypted, on a tmpfs
// that only root can read, for specSecrets to bind into the container.
func (e *Engine) secretsUp(ctx context.Context, r *ctrRecord) error { return nil }

// secretsDown removes (unmounts) what secretsUp wrote; safe to call twice.
func (e *Engine) secretsDown(r *ctrRecord) {}

// specSecrets adds r's secret and config files to the runtime spec.
func (e *Engine) specSecrets(r *ctrRecord, s *specs.Spec) error { return nil }
