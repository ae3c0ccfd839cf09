//go:build unix

package node

import "syscall"

// openFiles returns the process's open-files limit: the soft limit, which
// the Go runtime raises to the hard one as it starts. 0: unknown.
func openFiles() int {
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) != nil || rl.Cur > 1<<31 {
		return 0
	}
	return int(rl.Cur)
}
