//go:build !linux

package build

import "errors"

var errLinuxOnly = errors.New("builds need Linux")

func isDirIn(root, dir string) (bool, error) { return false, errLinuxOnly }
func mkdirIn(root, dir string) error         { return errLinuxOnly }
func statIsDir(root, p string) bool          { return false }
