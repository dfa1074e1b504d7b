//go:build linux

package nsenter

/*
extern void berth_nsenter(void);
static void __attribute__((constructor)) berth_nsenter_init(void) { berth_nsenter(); }
*/
import "C"
