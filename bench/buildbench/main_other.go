//go:build !linux

// Command buildbench runs on Linux only.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "buildbench: runs on Linux only")
	os.Exit(1)
}
