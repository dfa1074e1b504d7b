package logfile

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Layouts docker accepts for --since and --until, besides unix seconds and
// durations. A value without a zone is local time.
const (
	layoutNanoLocal = "2006-01-02T15:04:05.999999999"
	layoutLocal     = "2006-01-02T15:04:05"
	layoutDateLocal = "2006-01-02"
	layoutDateZone  = "2006-01-02Z07:00"
)

// ParseTime reads a --since/--until value the way docker does: a Go
// duration means that long before now, rounded down to the second ("10m");
// an RFC3339 time with or without fraction, seconds, minutes or zone
// ("2024-01-02T15:04:05.5Z", "2024-01-02T15:04"), or a date
// ("2024-01-02"), local time when no zone is given; else unix seconds with
// an optional fraction ("1700000000", "1700000000.5"). An empty s is the
// zero time (unset).
func ParseTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil && s != "0" {
		return time.Unix(now.Add(-d).Unix(), 0), nil
	}
	// A zone is given by Z, +hh:mm, or a third '-' (date plus -hh:mm).
	zoned := strings.ContainsAny(s, "zZ+") || strings.Count(s, "-") == 3
	var layout string
	switch {
	case strings.Contains(s, "."):
		layout = layoutNanoLocal
		if zoned {
			layout = time.RFC3339Nano
		}
	case strings.Contains(s, "T"):
		colons := strings.Count(s, ":")
		if zoned && !strings.ContainsAny(s, "zZ") && colons > 0 {
			colons-- // one colon belongs to the zone offset
		}
		layout = timeLayout(colons, zoned)
	case zoned:
		layout = layoutDateZone
	default:
		layout = layoutDateLocal
	}
	var (
		t   time.Time
		err error
	)
	if zoned {
		t, err = time.Parse(layout, s)
	} else {
		t, err = time.ParseInLocation(layout, s, time.Local)
	}
	if err == nil {
		return t, nil
	}
	if strings.Contains(s, "-") {
		// Looks like a date: its parse error says what is wrong.
		return time.Time{}, err
	}
	t, ok := parseUnix(s)
	if !ok {
		return time.Time{}, fmt.Errorf("failed to parse value as time or duration: %q", s)
	}
	return t, nil
}

// timeLayout is the layout of a date and time with colons colons in its
// time of day: hours only, hours and minutes, or full seconds.
func timeLayout(colons int, zoned bool) string {
	switch {
	case colons == 0 && zoned:
		return "2006-01-02T15Z07:00"
	case colons == 0:
		return "2006-01-02T15"
	case colons == 1 && zoned:
		return "2006-01-02T15:04Z07:00"
	case colons == 1:
		return "2006-01-02T15:04"
	case zoned:
		return time.RFC3339
	}
	return layoutLocal
}

// parseUnix reads "seconds[.fraction]".
func parseUnix(s string) (time.Time, bool) {
	secs, frac, hasFrac := strings.Cut(s, ".")
	sec, err := strconv.ParseInt(secs, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	if !hasFrac {
		return time.Unix(sec, 0), true
	}
	if frac == "" || strings.TrimLeft(frac, "0123456789") != "" {
		return time.Time{}, false
	}
	if len(frac) > 9 {
		frac = frac[:9]
	}
	nsec, err := strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(sec, nsec), true
}

// ParseTail reads docker's tail option: a count of lines, or -1 (all) for
// "all", "" or anything that is not a count of zero or more, as docker
// treats it.
func ParseTail(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return -1
	}
	return n
}
