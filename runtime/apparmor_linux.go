package runtime

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// appArmorEnabled reports whether the kernel enforces AppArmor.
func appArmorEnabled() bool {
	b, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	return err == nil && strings.HasPrefix(string(b), "Y")
}

// applyAppArmor makes the next execve of this thread change to profile
// ("exec PROFILE" in the thread's AppArmor exec attribute; the older
// /proc/thread-self/attr/exec where the per-LSM directory is missing).
func applyAppArmor(profile string) error {
	data := []byte("exec " + profile)
	err := os.WriteFile("/proc/thread-self/attr/apparmor/exec", data, 0)
	if errors.Is(err, os.ErrNotExist) {
		err = os.WriteFile("/proc/thread-self/attr/exec", data, 0)
	}
	if err != nil {
		return fmt.Errorf("apply apparmor profile %q: %w", profile, err)
	}
	return nil
}
