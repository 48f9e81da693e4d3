// Package procstat reads this process's own resource use on Linux: memory,
// open files and CPU, for herd's self-checks (elsewhere it reports zeros),
// and profiles it for herd's benchmarks.
package procstat

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
)

// RSS returns the resident set size in bytes.
func RSS() int64 { return statusKB("VmRSS:") * 1024 }

// PeakRSS returns the peak resident set size in bytes.
func PeakRSS() int64 { return statusKB("VmHWM:") * 1024 }

// OpenFiles counts the open file descriptors.
func OpenFiles() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	return len(ents)
}

// FileLimit returns the soft open-file limit.
func FileLimit() uint64 {
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) != nil {
		return 0
	}
	return rl.Cur
}

// RaiseFileLimit raises the soft open-file limit to the hard one and
// returns the limit in force afterwards.
func RaiseFileLimit() uint64 {
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) != nil {
		return 0
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	return FileLimit()
}

// CPUSeconds returns the user plus system CPU time used so far.
func CPUSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

func statusKB(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field) {
			if f := strings.Fields(line[len(field):]); len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// PortRange returns the size of the kernel's ephemeral port range
// (net.ipv4.ip_local_port_range): how many sockets one source address may
// hold towards one destination. 0 if unknown.
func PortRange() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	var lo, hi int
	if _, err := fmt.Sscan(string(b), &lo, &hi); err != nil || hi < lo {
		return 0
	}
	return hi - lo + 1
}

// CPUProfile starts a CPU profile of this process into dir, named after
// the command (name) and the PID, when dir is set; stop ends it. herd's
// own benchmarks set HERD_CPUPROFILE_DIR so that every herd process,
// workers and cells included, writes one.
func CPUProfile(dir, name string) (stop func()) {
	if dir == "" {
		return func() {}
	}
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%s-%d.pprof", name, os.Getpid())))
	if err != nil {
		return func() {}
	}
	if pprof.StartCPUProfile(f) != nil {
		f.Close()
		return func() {}
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}
