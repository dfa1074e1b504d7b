//go:build !linux

// Command composebench runs on Linux only.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "composebench: runs on Linux only")
	os.Exit(1)
}
