package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// metricsClient reads the nodes' /metrics.
func metricsClient(t *target) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DialContext:       func(ctx context.Context, _, _ string) (net.Conn, error) { return d.DialContext(ctx, "tcp", t.addr) },
			DisableKeepAlives: true,
		},
	}
}

// sample is a set of metric samples: name{labels} -> value, and name ->
// the sum over its labels.
type sample map[string]float64

// scrape reads a node's /metrics, keeping the samples whose names are
// listed in want.
func scrape(ctx context.Context, t *target, want ...string) (sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+t.host+t.path+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := metricsClient(t).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/metrics: HTTP %d", t.url, resp.StatusCode)
	}
	return parseMetrics(io.LimitReader(resp.Body, 16<<20), want)
}

// parseMetrics reads the Prometheus text format.
func parseMetrics(r io.Reader, want []string) (sample, error) {
	s := sample{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		series, val := line[:sp], line[sp+1:]
		name, _, _ := strings.Cut(series, "{")
		keep := false
		for _, w := range want {
			keep = keep || name == w
		}
		if !keep {
			continue
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return nil, fmt.Errorf("metric %q: %w", line, err)
		}
		s[series] = v
		if series != name {
			s[name] += v
		}
	}
	return s, sc.Err()
}
