package logfile

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ParseSize reads a size as docker's --log-opt max-size does: a number
// (fractions allowed), an optional space, and an optional unit among b, k,
// m, g, t, p in either case, the latter five with an optional "b" or "ib"
// ("10m", "1.5KB", "2 MiB"). Like docker, the units are decimal: 1k is 1000
// bytes. The errors are docker's ("invalid size: 'x'", "invalid suffix: 'x'").
func ParseSize(s string) (int64, error) {
	sep := strings.LastIndexAny(s, "0123456789. ")
	if sep < 0 {
		return -1, fmt.Errorf("invalid size: '%s'", s)
	}
	num, unit := s[:sep+1], s[sep+1:]
	if s[sep] == ' ' {
		num = s[:sep]
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return -1, err
	}
	if n < 0 {
		return -1, fmt.Errorf("invalid size: '%s'", s)
	}
	if unit == "" {
		return int64(n), nil
	}
	bad := func() (int64, error) { return -1, fmt.Errorf("invalid suffix: '%s'", strings.ToLower(unit)) }
	if len(unit) > 3 {
		return -1, fmt.Errorf("invalid suffix: '%s'", unit)
	}
	u := strings.ToLower(unit)
	if u == "b" {
		return int64(n), nil
	}
	mul := int64(1)
	switch u[0] {
	case 'p':
		mul *= 1000
		fallthrough
	case 't':
		mul *= 1000
		fallthrough
	case 'g':
		mul *= 1000
		fallthrough
	case 'm':
		mul *= 1000
		fallthrough
	case 'k':
		mul *= 1000
	default:
		return bad()
	}
	if rest := u[1:]; rest != "" && rest != "b" && rest != "ib" {
		return bad()
	}
	return int64(n * float64(mul)), nil
}

// logOpts are the options docker's json-file driver accepts. Only max-size
// and max-file change what the writer does; labels, env and tag only add
// attributes docker would put in each entry, which berth does not write;
// compress=true is refused (rotated files are kept plain).
var logOpts = []string{"compress", "env", "env-regex", "labels", "labels-regex", "max-file", "max-size", "tag"}

// ParseLogOpts checks the json-file log options of a container and returns
// its max-size (0: unlimited) and max-file (1 unless set), with docker's
// messages for an unknown key or a bad value.
func ParseLogOpts(opts map[string]string) (maxSize int64, maxFiles int, err error) {
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(logOpts, k) {
			return 0, 0, fmt.Errorf("unknown log opt '%s' for json-file log driver", k)
		}
	}
	maxSize, maxFiles = 0, 1
	if s, ok := opts["max-size"]; ok {
		if maxSize, err = ParseSize(s); err != nil {
			return 0, 0, err
		}
		if maxSize <= 0 {
			return 0, 0, errors.New("max-size must be a positive number")
		}
	}
	if s, ok := opts["max-file"]; ok {
		if maxFiles, err = strconv.Atoi(s); err != nil {
			return 0, 0, err
		}
		if maxFiles < 1 {
			return 0, 0, errors.New("max-file cannot be less than 1")
		}
	}
	if s, ok := opts["compress"]; ok {
		compress, err := strconv.ParseBool(s)
		if err != nil {
			return 0, 0, err
		}
		if compress && (maxFiles == 1 || maxSize == 0) {
			return 0, 0, errors.New("compress cannot be true when max-file is less than 2 or max-size is not set")
		}
		if compress {
			return 0, 0, errors.New("compress is not supported by berth's json-file log driver")
		}
	}
	return maxSize, maxFiles, nil
}
