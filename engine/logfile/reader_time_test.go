package logfile

import (
	"strings"
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 700_000_000, time.UTC)
	local := func(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
		return time.Date(y, mo, d, h, mi, s, ns, time.Local)
	}
	for _, tc := range []struct {
		in   string
		want time.Time
		err  string
	}{
		{in: "", want: time.Time{}},
		{in: "10m", want: time.Unix(now.Add(-10*time.Minute).Unix(), 0)},
		{in: "1h30m", want: time.Unix(now.Add(-90*time.Minute).Unix(), 0)},
		{in: "0", want: time.Unix(0, 0)},
		{in: "1700000000", want: time.Unix(1700000000, 0)},
		{in: "1700000000.5", want: time.Unix(1700000000, 500_000_000)},
		{in: "1700000000.000000001", want: time.Unix(1700000000, 1)},
		{in: "1700000000.1234567891", want: time.Unix(1700000000, 123456789)},
		{in: "2024-05-01T10:00:00Z", want: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)},
		{in: "2024-05-01T10:00:00.25Z", want: time.Date(2024, 5, 1, 10, 0, 0, 250_000_000, time.UTC)},
		{in: "2024-05-01T10:00:00+02:00", want: time.Date(2024, 5, 1, 8, 0, 0, 0, time.UTC)},
		{in: "2024-05-01T10:00:00.5-01:00", want: time.Date(2024, 5, 1, 11, 0, 0, 500_000_000, time.UTC)},
		{in: "2024-05-01T10:00Z", want: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)},
		{in: "2024-05-01T10+01:00", want: time.Date(2024, 5, 1, 9, 0, 0, 0, time.UTC)},
		{in: "2024-05-01T10:00:00", want: local(2024, 5, 1, 10, 0, 0, 0)},
		{in: "2024-05-01T10:00:00.123", want: local(2024, 5, 1, 10, 0, 0, 123_000_000)},
		{in: "2024-05-01T10:30", want: local(2024, 5, 1, 10, 30, 0, 0)},
		{in: "2024-05-01T10", want: local(2024, 5, 1, 10, 0, 0, 0)},
		{in: "2024-05-01", want: local(2024, 5, 1, 0, 0, 0, 0)},
		{in: "2024-05-01Z", want: time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)},
		{in: "2024-05-01-02:00", want: time.Date(2024, 5, 1, 2, 0, 0, 0, time.UTC)},
		{in: "yesterday", err: `failed to parse value as time or duration: "yesterday"`},
		{in: "17000.x", err: `failed to parse value as time or duration: "17000.x"`},
		{in: "2024-13-01", err: "month out of range"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseTime(tc.in, now)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseTime(%q) = %v, %v; want error %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || !got.Equal(tc.want) {
				t.Fatalf("ParseTime(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestParseTail(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"all", -1}, {"", -1}, {"-3", -1}, {"x", -1}, {"0", 0}, {"25", 25},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := ParseTail(tc.in); got != tc.want {
				t.Errorf("ParseTail(%q) = %d, want %d", tc.in, got, tc.want)
			}
		})
	}
}
