package cgroup

// val returns *p, or the zero value for nil.
func val[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// sharesToWeight maps v1 cpu.shares (2-262144) to v2 cpu.weight (1-10000)
// with runc's linear formula; out-of-range shares are clamped first.
func sharesToWeight(shares uint64) uint64 {
	shares = min(max(shares, 2), 262144)
	return 1 + ((shares-2)*9999)/262142
}

// blkioToIOWeight maps a v1 blkio weight (10-1000) to v2 io.weight
// (1-10000) as runc does; out-of-range weights are clamped first.
func blkioToIOWeight(w uint16) uint64 {
	v := uint64(min(max(w, 10), 1000))
	return 1 + (v-10)*9999/990
}
