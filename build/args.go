package build

import (
	"maps"
	"slices"
	"sort"
	"strings"
)

// builtinArgs are the build args docker allows without an ARG (proxies):
// they reach RUN steps but stay out of the history unless an ARG names them.
var builtinArgs = map[string]bool{
	"HTTP_PROXY": true, "http_proxy": true,
	"HTTPS_PROXY": true, "https_proxy": true,
	"FTP_PROXY": true, "ftp_proxy": true,
	"NO_PROXY": true, "no_proxy": true,
	"ALL_PROXY": true, "all_proxy": true,
}

// buildArgs is docker's classic builder's ARG bookkeeping: the --build-arg
// values, the global (meta) ARGs before the first FROM, the ARGs declared
// in the current stage and the names any ARG referenced (for the "not
// consumed" warning).
type buildArgs struct {
	fromOptions map[string]*string
	meta        map[string]*string
	allowed     map[string]*string
	referenced  map[string]bool
}

func newBuildArgs(opts map[string]*string) *buildArgs {
	return &buildArgs{
		fromOptions: maps.Clone(opts),
		meta:        map[string]*string{},
		allowed:     map[string]*string{},
		referenced:  map[string]bool{},
	}
}

// forStage is the args a new stage starts with: the meta ARGs stay, the
// declared ones are forgotten (a global ARG must be declared again).
func (a *buildArgs) forStage() *buildArgs {
	return &buildArgs{
		fromOptions: a.fromOptions,
		meta:        a.meta,
		allowed:     map[string]*string{},
		referenced:  a.referenced,
	}
}

// addArg declares an ARG in the current scope.
func (a *buildArgs) addArg(key string, value *string) {
	a.allowed[key] = value
	a.referenced[key] = true
}

// addMeta declares a global ARG.
func (a *buildArgs) addMeta(key string, value *string) { a.meta[key] = value }

// get is the value of a declared arg: the --build-arg value when one is
// given, else the declared default, else (no default) the global ARG's.
func (a *buildArgs) get(key string, scope map[string]*string) (string, bool) {
	def, exists := scope[key]
	if v, ok := a.fromOptions[key]; ok && v != nil {
		return *v, true
	}
	if def == nil {
		if v, ok := a.meta[key]; ok && v != nil {
			return *v, true
		}
		return "", false
	}
	return *def, exists
}

// allAllowed is every arg in scope with its value.
func (a *buildArgs) allAllowed() map[string]string { return a.valuesOf(a.allowed) }

// declared is the args the stage declared with their values: what keys
// the cache. The proxy args docker predefines are left out unless an ARG
// declares them, so that a build behind another proxy still hits the
// cache, as docker's does.
func (a *buildArgs) declared() map[string]string {
	m := map[string]string{}
	for k := range a.allowed {
		if v, ok := a.get(k, a.allowed); ok {
			m[k] = v
		}
	}
	return m
}

// allMeta is what FROM lines are expanded with.
func (a *buildArgs) allMeta() map[string]string { return a.valuesOf(a.meta) }

// valuesOf is the builtin args given as options, and the args declared in
// scope with their values.
func (a *buildArgs) valuesOf(scope map[string]*string) map[string]string {
	m := map[string]string{}
	for k, v := range a.fromOptions {
		if builtinArgs[k] && v != nil {
			m[k] = *v
		}
	}
	for k := range scope {
		if v, ok := a.get(k, scope); ok {
			m[k] = v
		}
	}
	return m
}

// filterAllowed is the args in scope as K=V, sorted, minus those env (an
// image's Env) overrides.
func (a *buildArgs) filterAllowed(env []string) []string {
	have := map[string]bool{}
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		have[k] = true
	}
	var out []string
	for k, v := range a.allAllowed() {
		if !have[k] {
			out = append(out, k+"="+v)
		}
	}
	sort.Strings(out)
	return out
}

// inHistory: a builtin arg shows in a RUN's history only when an ARG
// declared it.
func (a *buildArgs) inHistory(key string) bool { return a.referenced[key] || !builtinArgs[key] }

// unused are the --build-args no ARG consumed, sorted.
func (a *buildArgs) unused() []string {
	var out []string
	for k := range a.fromOptions {
		if !a.referenced[k] && !builtinArgs[k] {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// envList is an environment for shell.Lex: K=V entries, a later one
// winning over an earlier one of the same key.
type envList map[string]string

func envOf(lists ...[]string) envList {
	m := envList{}
	for _, l := range lists {
		for _, kv := range l {
			k, v, _ := strings.Cut(kv, "=")
			m[k] = v
		}
	}
	return m
}

func (e envList) Get(k string) (string, bool) { v, ok := e[k]; return v, ok }
func (e envList) Keys() []string              { return slices.Sorted(maps.Keys(e)) }

func mapToEnv(m map[string]string) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, k+"="+m[k])
	}
	return out
}
