//go:build !linux

package imagetest

import "syscall"

func childAttr() *syscall.SysProcAttr { return nil }
