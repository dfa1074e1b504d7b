package main

import (
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/berth-project/berth/engine"
)

// secretFlags are run's and create's --secret and --config: the files a
// container gets from the engine's secret and config stores (docker
// offers them to swarm services only), in docker's service syntax:
// NAME or source=NAME[,target=PATH][,uid=N][,gid=N][,mode=0400].
type secretFlags struct {
	secrets, configs []string
}

func (o *secretFlags) add(f *pflag.FlagSet) {
	f.StringArrayVar(&o.secrets, "secret", nil, "Give the container a secret (NAME or source=NAME[,target=PATH][,uid=][,gid=][,mode=])")
	f.StringArrayVar(&o.configs, "config", nil, "Give the container a config (NAME or source=NAME[,target=PATH][,uid=][,gid=][,mode=])")
}

func (o *secretFlags) apply(flags *pflag.FlagSet, req *engine.CreateRequest) error {
	for _, v := range o.secrets {
		ref, err := parseFileRef(v)
		if err != nil {
			return fmt.Errorf("invalid argument %q for \"--secret\" flag: %w", v, err)
		}
		req.Secrets = append(req.Secrets, ref)
	}
	for _, v := range o.configs {
		ref, err := parseFileRef(v)
		if err != nil {
			return fmt.Errorf("invalid argument %q for \"--config\" flag: %w", v, err)
		}
		req.Configs = append(req.Configs, ref)
	}
	return nil
}

// parseFileRef parses docker's secret/config reference: a bare NAME, or
// comma-separated key=value fields (source or src, target, uid, gid,
// mode; the mode in C syntax as docker's, "0400" octal).
func parseFileRef(v string) (engine.FileRef, error) {
	var ref engine.FileRef
	if v == "" {
		return ref, fmt.Errorf("empty value")
	}
	if !strings.Contains(v, "=") {
		if strings.Contains(v, ",") {
			return ref, fmt.Errorf("invalid field '%s' must be a key=value pair", strings.SplitN(v, ",", 2)[1])
		}
		ref.Name = v
		return ref, nil
	}
	for _, field := range strings.Split(v, ",") {
		key, value, ok := strings.Cut(field, "=")
		if !ok {
			return ref, fmt.Errorf("invalid field '%s' must be a key=value pair", field)
		}
		switch strings.ToLower(strings.TrimSpace(key)) {
		case "source", "src":
			ref.Name = value
		case "target":
			ref.Target = value
		case "uid":
			if _, err := strconv.ParseUint(value, 10, 32); err != nil {
				return ref, fmt.Errorf("invalid uid %q: it must be a number", value)
			}
			ref.UID = value
		case "gid":
			if _, err := strconv.ParseUint(value, 10, 32); err != nil {
				return ref, fmt.Errorf("invalid gid %q: it must be a number", value)
			}
			ref.GID = value
		case "mode":
			m, err := strconv.ParseUint(value, 0, 32)
			if err != nil {
				return ref, fmt.Errorf("invalid mode specified: %v", err)
			}
			if m == 0 || m&^uint64(fs.ModePerm) != 0 {
				return ref, fmt.Errorf("invalid mode %q: it must be a file mode from 01 to 0777", value)
			}
			ref.Mode = fs.FileMode(m)
		default:
			return ref, fmt.Errorf("invalid field key %s", key)
		}
	}
	if ref.Name == "" {
		return ref, fmt.Errorf("source is required")
	}
	return ref, nil
}
