//go:build unix

package telemetrytest

import (
	"syscall"
	"time"
)

// CPUTime is the CPU time the process has used (user and system), for
// benchmarks on a shared machine: unlike the wall time, it does not count
// the time spent waiting for a CPU another job holds.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
