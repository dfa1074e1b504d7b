package cgroup

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The bpf(2) attribute layouts this file needs (union bpf_attr in
// include/uapi/linux/bpf.h). The kernel accepts an attr shorter than its
// own union and zero-fills the rest.

// bpfPtr is a __aligned_u64 holding a user pointer. Keeping it an
// unsafe.Pointer lets the garbage collector see the reference; it has the
// right size on 64-bit platforms only, which setDevicesV2 checks.
type bpfPtr struct{ p unsafe.Pointer }

const ptrIs64 = unsafe.Sizeof(bpfPtr{}) == 8

type progLoadAttr struct {
	progType           uint32
	insnCnt            uint32
	insns              bpfPtr
	license            bpfPtr
	logLevel           uint32
	logSize            uint32
	logBuf             bpfPtr
	kernVersion        uint32
	progFlags          uint32
	progName           [unix.BPF_OBJ_NAME_LEN]byte
	progIfindex        uint32
	expectedAttachType uint32
}

type progAttachAttr struct {
	targetFd     uint32
	attachBpfFd  uint32
	attachType   uint32
	attachFlags  uint32
	replaceBpfFd uint32
}

type progQueryAttr struct {
	targetFd    uint32
	attachType  uint32
	queryFlags  uint32
	attachFlags uint32
	progIDs     bpfPtr
	progCnt     uint32
	_           uint32
}

type getFDByIDAttr struct {
	id        uint32
	nextID    uint32
	openFlags uint32
}

func bpfCall[T any](cmd int, attr *T) (int, error) {
	r, _, errno := unix.Syscall(unix.SYS_BPF, uintptr(cmd), uintptr(unsafe.Pointer(attr)), unsafe.Sizeof(*attr))
	runtime.KeepAlive(attr)
	if errno != 0 {
		return int(r), errno
	}
	return int(r), nil
}

// encodeInsns lays instructions out as struct bpf_insn.
func encodeInsns(prog []insn) []byte {
	b := make([]byte, 8*len(prog))
	for i, in := range prog {
		o := b[8*i:]
		o[0] = in.code
		o[1] = in.dst&0x0f | in.src<<4
		binary.LittleEndian.PutUint16(o[2:], uint16(in.off))
		binary.LittleEndian.PutUint32(o[4:], uint32(in.imm))
	}
	return b
}

// loadDeviceProg loads a BPF_PROG_TYPE_CGROUP_DEVICE program and returns
// its fd. When the verifier refuses it, the load is repeated with a log,
// which the error then carries.
func loadDeviceProg(prog []insn) (int, error) {
	code := encodeInsns(prog)
	license := []byte("Apache\x00")
	attr := progLoadAttr{
		progType: unix.BPF_PROG_TYPE_CGROUP_DEVICE,
		insnCnt:  uint32(len(prog)),
		insns:    bpfPtr{p: unsafe.Pointer(&code[0])},
		license:  bpfPtr{p: unsafe.Pointer(&license[0])},
	}
	copy(attr.progName[:], "berth_devices")
	fd, err := bpfCall(unix.BPF_PROG_LOAD, &attr)
	if err == nil {
		return fd, nil
	}
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EACCES) {
		log := make([]byte, 64<<10)
		attr.logLevel, attr.logSize, attr.logBuf = 1, uint32(len(log)), bpfPtr{p: unsafe.Pointer(&log[0])}
		if fd, err2 := bpfCall(unix.BPF_PROG_LOAD, &attr); err2 == nil {
			return fd, nil // loaded with the log on: fine too
		}
		runtime.KeepAlive(log)
		if n := clen(log); n > 0 {
			return -1, fmt.Errorf("load device program: %w: verifier: %s", err, log[:n])
		}
	}
	runtime.KeepAlive(code)
	runtime.KeepAlive(license)
	return -1, fmt.Errorf("load device program: %w", err)
}

func clen(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return len(b)
}

// queryDeviceProgs lists the ids of the device programs attached to the
// cgroup itself (not inherited ones) and the flags they were attached with.
func queryDeviceProgs(cgFd int) (ids []uint32, flags uint32, err error) {
	n := 8
	for {
		ids = make([]uint32, n)
		attr := progQueryAttr{
			targetFd:   uint32(cgFd),
			attachType: unix.BPF_CGROUP_DEVICE,
			progIDs:    bpfPtr{p: unsafe.Pointer(&ids[0])},
			progCnt:    uint32(n),
		}
		_, err := bpfCall(unix.BPF_PROG_QUERY, &attr)
		runtime.KeepAlive(ids)
		if errors.Is(err, unix.ENOSPC) && int(attr.progCnt) > n {
			n = int(attr.progCnt)
			continue
		}
		if err != nil {
			return nil, 0, fmt.Errorf("query device programs: %w", err)
		}
		return ids[:attr.progCnt], attr.attachFlags, nil
	}
}

// setDevicesV2 compiles the rules, attaches the program to dir and then
// detaches the programs that were there before, so that at no moment the
// cgroup is without a device program (for a moment it has both, and an
// access must pass both).
func setDevicesV2(dir string, r *specs.LinuxResources) error {
	if len(r.Devices) == 0 {
		return nil
	}
	prog, err := compileDevices(r.Devices)
	if err != nil {
		return err
	}
	if !ptrIs64 {
		return fmt.Errorf("set devices on %s: device programs need a 64-bit build", dir)
	}
	cgFd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("set devices: open %s: %w", dir, err)
	}
	defer unix.Close(cgFd)
	old, oldFlags, err := queryDeviceProgs(cgFd)
	if err != nil {
		return fmt.Errorf("set devices on %s: %w", dir, err)
	}
	progFd, err := loadDeviceProg(prog)
	if err != nil {
		return fmt.Errorf("set devices on %s (%s): %w", dir, describeRules(r.Devices), err)
	}
	defer unix.Close(progFd) // the attachment keeps the program alive

	// Someone attached a single program without BPF_F_ALLOW_MULTI: attaching
	// with the same flags replaces it in one step.
	flags := uint32(unix.BPF_F_ALLOW_MULTI)
	if len(old) > 0 && oldFlags&unix.BPF_F_ALLOW_MULTI == 0 {
		flags = oldFlags
		old = nil
	}
	attach := progAttachAttr{
		targetFd:    uint32(cgFd),
		attachBpfFd: uint32(progFd),
		attachType:  unix.BPF_CGROUP_DEVICE,
		attachFlags: flags,
	}
	if _, err := bpfCall(unix.BPF_PROG_ATTACH, &attach); err != nil {
		return fmt.Errorf("set devices: attach program to %s: %w", dir, err)
	}
	for _, id := range old {
		if err := detachProg(cgFd, id); err != nil {
			return fmt.Errorf("set devices: detach old program %d from %s: %w", id, dir, err)
		}
	}
	return nil
}

// detachProg detaches program id from the cgroup; one already gone is fine.
func detachProg(cgFd int, id uint32) error {
	get := getFDByIDAttr{id: id}
	fd, err := bpfCall(unix.BPF_PROG_GET_FD_BY_ID, &get)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	detach := progAttachAttr{targetFd: uint32(cgFd), attachBpfFd: uint32(fd), attachType: unix.BPF_CGROUP_DEVICE}
	if _, err := bpfCall(unix.BPF_PROG_DETACH, &detach); err != nil && !errors.Is(err, unix.ENOENT) {
		return err
	}
	return nil
}
