package runtime

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/runtime/seccomp"
)

// seccompProgram is a compiled seccomp profile on its way to init: the BPF
// instructions as bytes (base64 in the JSON, which decodes far faster than
// the profile it came from) and what Load and the notify listener need.
type seccompProgram struct {
	Prog             []byte `json:"prog"`
	Flags            uint   `json:"flags,omitempty"`
	Notify           bool   `json:"notify,omitempty"`
	ListenerPath     string `json:"listener_path,omitempty"`
	ListenerMetadata string `json:"listener_metadata,omitempty"`
}

// bpfInsnSize is sizeof(struct sock_filter).
const bpfInsnSize = 8

func encodeBPF(prog []unix.SockFilter) []byte {
	b := make([]byte, 0, len(prog)*bpfInsnSize)
	for _, in := range prog {
		b = binary.LittleEndian.AppendUint16(b, in.Code)
		b = append(b, in.Jt, in.Jf)
		b = binary.LittleEndian.AppendUint32(b, in.K)
	}
	return b
}

func (p *seccompProgram) filter() (*seccomp.Filter, error) {
	if len(p.Prog)%bpfInsnSize != 0 {
		return nil, fmt.Errorf("seccomp program of %d bytes", len(p.Prog))
	}
	prog := make([]unix.SockFilter, len(p.Prog)/bpfInsnSize)
	for i := range prog {
		b := p.Prog[i*bpfInsnSize:]
		prog[i] = unix.SockFilter{
			Code: binary.LittleEndian.Uint16(b), Jt: b[2], Jf: b[3], K: binary.LittleEndian.Uint32(b[4:]),
		}
	}
	return &seccomp.Filter{Prog: prog, Flags: p.Flags, Notify: p.Notify}, nil
}
