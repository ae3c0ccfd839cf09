package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// clockTicks is the unit of the CPU times in /proc/<pid>/stat
// (sysconf(_SC_CLK_TCK)), 100 on every Linux architecture Go supports.
const clockTicks = 100

// procCPU returns the CPU time (user + system) process pid has used, in
// seconds, from /proc/<pid>/stat.
func procCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStat(b)
}

// parseStat reads utime and stime, the 14th and 15th fields of a
// /proc/<pid>/stat line. The second field, the command name in
// parentheses, may hold spaces and parentheses: the fields after it are
// counted from its last ')'.
func parseStat(b []byte) (float64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("bench: malformed /proc stat %.40q", b)
	}
	f := bytes.Fields(b[i+1:]) // f[0] is field 3, the state
	if len(f) < 13 {
		return 0, fmt.Errorf("bench: short /proc stat %.40q", b)
	}
	var ticks uint64
	for _, s := range f[11:13] {
		v, err := strconv.ParseUint(string(s), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bench: /proc stat: %w", err)
		}
		ticks += v
	}
	return float64(ticks) / clockTicks, nil
}

// procRSS returns the resident memory of process pid in bytes, from
// VmRSS in /proc/<pid>/status.
func procRSS(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseRSS(b)
}

func parseRSS(b []byte) (float64, error) {
	for line := range bytes.Lines(b) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("bench: unexpected VmRSS line %q", line)
		}
		kb, err := strconv.ParseFloat(string(f[0]), 64)
		if err != nil {
			return 0, fmt.Errorf("bench: VmRSS: %w", err)
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("bench: no VmRSS in /proc status (a kernel thread or a zombie?)")
}

// cpuOf returns the CPU seconds of each pid, and for each an error text,
// empty if it was read.
func cpuOf(pids []int) ([]float64, []string) {
	out, errs := make([]float64, len(pids)), make([]string, len(pids))
	for i, p := range pids {
		v, err := procCPU(p)
		if err != nil {
			errs[i] = err.Error()
		}
		out[i] = v
	}
	return out, errs
}
