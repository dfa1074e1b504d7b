package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/berth-project/berth/engine"
	"github.com/berth-project/berth/internal/progress"
)

// templateFuncs are the functions docker gives every --format template.
var templateFuncs = template.FuncMap{
	"json": func(v any) (string, error) {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return "", err
		}
		return strings.TrimSpace(b.String()), nil
	},
	"split":    strings.Split,
	"join":     strings.Join,
	"title":    titleCase,
	"lower":    strings.ToLower,
	"upper":    strings.ToUpper,
	"pad":      func(s string, before, after int) string { return padNonEmpty(s, before, after) },
	"truncate": truncateBytes,
}

// headerFuncs stand in for templateFuncs when a table's header row is
// rendered, so that "{{upper .Names}}" still shows NAMES.
var headerFuncs = template.FuncMap{
	"json":     func(v string) string { return v },
	"split":    func(v, _ string) string { return v },
	"join":     func(v, _ string) string { return v },
	"title":    func(v string) string { return v },
	"lower":    func(v string) string { return v },
	"upper":    func(v string) string { return v },
	"truncate": func(v string, _ int) string { return v },
}

func titleCase(s string) string {
	prev := ' '
	return strings.Map(func(r rune) rune {
		defer func() { prev = r }()
		if unicode.IsSpace(prev) || unicode.IsPunct(prev) {
			return unicode.ToTitle(r)
		}
		return r
	}, s)
}

func padNonEmpty(s string, before, after int) string {
	if s == "" {
		return s
	}
	return strings.Repeat(" ", before) + s + strings.Repeat(" ", after)
}

func truncateBytes(s string, n int) string {
	if len(s) < n {
		return s
	}
	return s[:n]
}

// parseTemplate parses a --format template with docker's functions; the
// error is docker's.
func parseTemplate(format string) (*template.Template, error) {
	t, err := template.New("").Funcs(templateFuncs).Parse(format)
	if err != nil {
		return nil, fmt.Errorf("template parsing error: %w", err)
	}
	return t, nil
}

// listFormat is a --format of a listing command as docker reads it:
// "table" (the default columns), "table TEMPLATE" (columns with a header
// row), "json" (one JSON object a line), or a bare TEMPLATE (a line per row).
type listFormat struct {
	table bool
	tmpl  *template.Template
	text  string
}

// newListFormat parses format; def is the command's default table.
func newListFormat(format, def string) (*listFormat, error) {
	switch format {
	case "", "table":
		format = def
	case "json":
		format = "{{json .}}"
	}
	f := &listFormat{}
	if rest, ok := strings.CutPrefix(format, "table"); ok {
		f.table, format = true, rest
	}
	format = strings.Trim(format, " ")
	format = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(format)
	f.text = format
	t, err := parseTemplate(format)
	if err != nil {
		return nil, err
	}
	f.tmpl = t
	return f, nil
}

// uses reports whether the template names a placeholder (".Size").
func (f *listFormat) uses(placeholder string) bool {
	return strings.Contains(f.text, placeholder)
}

// write renders rows (each a value whose methods are the placeholders) to
// out; a table gets the header row (header maps placeholders to titles)
// and columns aligned as docker aligns them.
func (f *listFormat) write(out io.Writer, header map[string]string, rows []any) error {
	var body bytes.Buffer
	for _, r := range rows {
		if err := f.tmpl.Execute(&body, r); err != nil {
			return fmt.Errorf("template parsing error: %w", err)
		}
		body.WriteByte('\n')
	}
	if !f.table {
		_, err := body.WriteTo(out)
		return err
	}
	tw := tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)
	var head bytes.Buffer
	// As docker, a header that cannot be rendered (a placeholder taking
	// arguments) is shown as far as it got.
	_ = template.Must(f.tmpl.Clone()).Funcs(headerFuncs).Execute(&head, header)
	head.WriteByte('\n')
	head.WriteTo(tw)
	body.WriteTo(tw)
	return tw.Flush()
}

// methodsJSON marshals v as docker's formatter does: an object of the
// results of v's exported methods that take no argument and return one
// value.
func methodsJSON(v any) ([]byte, error) {
	val := reflect.ValueOf(v)
	m := map[string]any{}
	for i := 0; i < val.NumMethod(); i++ {
		meth := val.Type().Method(i)
		fn := val.Method(i)
		if meth.Name == "MarshalJSON" || fn.Type().NumIn() != 0 || fn.Type().NumOut() != 1 {
			continue
		}
		m[meth.Name] = fn.Call(nil)[0].Interface()
	}
	return json.Marshal(m)
}

// renderInspect writes values as `inspect` does: an indented JSON array
// without a format, else the template once per value. A template that does
// not fit the typed value (".Id" where the Go field is ID) runs on the
// value's JSON, as docker falls back to the raw object.
func renderInspect(out io.Writer, format string, values []any) error {
	if format == "" {
		if values == nil {
			values = []any{}
		}
		b, err := json.MarshalIndent(values, "", "    ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(out, "%s\n", b)
		return err
	}
	if format == "json" {
		format = "{{json .}}"
	}
	format = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(format)
	t, err := parseTemplate(format)
	if err != nil {
		return err
	}
	for _, v := range values {
		var b bytes.Buffer
		if err := t.Execute(&b, v); err != nil {
			raw, rerr := rawJSON(v)
			if rerr != nil {
				return fmt.Errorf("template parsing error: %w", err)
			}
			b.Reset()
			if err := t.Execute(&b, raw); err != nil {
				return fmt.Errorf("template parsing error: %w", err)
			}
		}
		b.WriteByte('\n')
		if _, err := b.WriteTo(out); err != nil {
			return err
		}
	}
	return nil
}

// rawJSON is v as a generic JSON value, numbers kept as written.
func rawJSON(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var raw any
	err = dec.Decode(&raw)
	return raw, err
}

// truncateID is docker's short ID: the first 12 hex digits, algorithm left
// out.
func truncateID(id string) string {
	if i := strings.IndexByte(id, ':'); i >= 0 {
		id = id[i+1:]
	}
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}

// ellipsis shortens s to at most n characters, the last being "…".
func ellipsis(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// humanSize is docker's size with three significant digits ("12.3MB").
func humanSize(n int64) string { return progress.HumanSize(n) }

// humanSize4 is docker's size with four significant digits ("1.536kB"),
// as units.HumanSize writes it.
func humanSize4(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB", "PB", "EB"}
	f, i := float64(n), 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	return strconv.FormatFloat(f, 'g', 4, 64) + units[i]
}

// binarySize is docker's size in powers of 1024 ("1.953GiB"), for
// memory.
func binarySize(n float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	i := 0
	for n >= 1024 && i < len(units)-1 {
		n /= 1024
		i++
	}
	return strconv.FormatFloat(n, 'g', 4, 64) + units[i]
}

// since is "3 hours ago" for a unix time, as docker's CREATED columns.
func since(unix int64, now time.Time) string {
	return engine.HumanDuration(now.Sub(time.Unix(unix, 0))) + " ago"
}

// parseBytes reads a size as docker's --memory does: a number with an
// optional b, k, m, g, t or p suffix (powers of 1024, "b"/"B" bytes,
// "kb", "mib" and the like accepted).
func parseBytes(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	t = strings.TrimSuffix(strings.TrimSuffix(t, "ib"), "b")
	if t != "" {
		switch t[len(t)-1] {
		case 'k':
			mult = 1 << 10
		case 'm':
			mult = 1 << 20
		case 'g':
			mult = 1 << 30
		case 't':
			mult = 1 << 40
		case 'p':
			mult = 1 << 50
		}
		if mult != 1 {
			t = t[:len(t)-1]
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("invalid size: '%s'", s)
	}
	return int64(f * float64(mult)), nil
}

// timestampArg turns a --since/--until value into what the API takes, as
// docker's client does: a Go duration is that long before now, a number is
// a unix time already, and RFC 3339 dates and times (local time when they
// have no zone) become unix times, all as "SECONDS.NANOSECONDS".
func timestampArg(value string, now time.Time) (string, error) {
	if value == "" {
		return "", nil
	}
	if d, err := time.ParseDuration(value); err == nil {
		return unixArg(now.Add(-d)), nil
	}
	if _, err := strconv.ParseFloat(value, 64); err == nil && !strings.Contains(value, "e") {
		return value, nil
	}
	layouts := []string{time.RFC3339Nano, time.RFC3339, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05",
		"2006-01-02T15:04", "2006-01-02Z07:00", "2006-01-02"}
	for _, l := range layouts {
		var t time.Time
		var err error
		if strings.Contains(l, "Z07:00") {
			t, err = time.Parse(l, value)
		} else {
			t, err = time.ParseInLocation(l, value, time.Local)
		}
		if err == nil {
			return unixArg(t), nil
		}
	}
	return "", fmt.Errorf("invalid value for \"since\"/\"until\": %q is not a duration, unix time or RFC 3339 date", value)
}

func unixArg(t time.Time) string {
	return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond())
}
