//go:build !linux

package main

import "errors"

// The engines run on Linux only; elsewhere the benchmark says so.

type work struct{}

func newWork(bool) (*work, error) { return nil, errors.New("enginebench runs on Linux only") }

func (w *work) path(...string) string { return "" }
func (w *work) remove()               {}

func setupDocker(*work) *engine         { return nil }
func setupPodman(*work) *engine         { return nil }
func setupBerth(*work, string) *engine  { return nil }
func procMem(int) (rss, pss, uss int64) { return 0, 0, 0 }
func memAvailable() int64               { return 0 }

func cmdline(int) string { return "" }
