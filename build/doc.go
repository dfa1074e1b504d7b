// Package build turns a Dockerfile and its context into an image: it
// parses with BuildKit's dockerfile parser, runs each step on the engine
// (RUN in a real container, COPY and ADD into a writable snapshot), makes
// a layer of each filesystem change and keeps a cache of steps keyed by
// parent, instruction, build args in scope and the content of copied
// files.
package build
