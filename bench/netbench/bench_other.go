//go:build !linux

package main

import "errors"

// The engines run on Linux only; elsewhere only the helper roles work.
func bench([]string) error { return errors.New("the benchmark runs on Linux only") }
