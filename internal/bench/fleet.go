package bench

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// job is the share of a run's connections one process holds: connections
// First to First+Count-1 of the run. Connection i goes to URLs[i % len],
// subscribes to channel i % Channels, and leaves from source address
// (i / len(URLs)) % Sources.
type job struct {
	Protocol         string        `json:"protocol,omitempty"` // "" is Herald
	Transport        string        `json:"transport"`
	URLs             []string      `json:"urls"`
	AllowRemote      bool          `json:"allow_remote"`
	Token            string        `json:"token,omitempty"` // a client token for every connection
	Channels         int           `json:"channels"`
	First            int           `json:"first"`
	Count            int           `json:"count"`
	Sources          int           `json:"sources"`
	RampConcurrency  int           `json:"ramp_concurrency"`
	RampRate         float64       `json:"ramp_rate"` // over the whole run
	Share            float64       `json:"share"`     // of the ramp rate this process takes
	HandshakeTimeout time.Duration `json:"handshake_timeout"`
	RampTimeout      time.Duration `json:"ramp_timeout"`
	Deadline         time.Time     `json:"deadline"` // a worker ends by then whatever happens
}

// tally is what a group of connections counted. A ramp fills the first
// fields; closing adds the rest.
type tally struct {
	Connected   int            `json:"connected"`
	Failed      int            `json:"failed"`
	Failures    map[string]int `json:"failures,omitempty"`
	Handshake   *Hist          `json:"handshake"`
	PerChannel  []int          `json:"per_channel"`
	RampSeconds float64        `json:"ramp_seconds"`

	Received uint64         `json:"received"`
	Last     int64          `json:"last"` // unix nanos of the last delivery
	Latency  *Hist          `json:"latency,omitempty"`
	Ended    map[string]int `json:"ended,omitempty"` // connections the server ended, by reason
}

// merge adds o to t.
func (t *tally) merge(o *tally) {
	t.Connected += o.Connected
	t.Failed += o.Failed
	t.Failures = mergeCounts(t.Failures, o.Failures)
	t.Ended = mergeCounts(t.Ended, o.Ended)
	if t.Handshake == nil {
		t.Handshake = NewHist()
	}
	t.Handshake.Merge(o.Handshake)
	if t.Latency == nil {
		t.Latency = NewHist()
	}
	t.Latency.Merge(o.Latency)
	for len(t.PerChannel) < len(o.PerChannel) {
		t.PerChannel = append(t.PerChannel, 0)
	}
	for i, n := range o.PerChannel {
		t.PerChannel[i] += n
	}
	t.RampSeconds = max(t.RampSeconds, o.RampSeconds)
	t.Received += o.Received
	t.Last = max(t.Last, o.Last)
}

func mergeCounts(a, b map[string]int) map[string]int {
	if len(b) == 0 {
		return a
	}
	if a == nil {
		a = make(map[string]int, len(b))
	}
	for k, v := range b {
		a[k] += v
	}
	return a
}

// progress is a group's running count.
type progress struct {
	Connected int64  `json:"connected"`
	Failed    int64  `json:"failed"`
	Received  uint64 `json:"received"`
	Last      int64  `json:"last"`
}

// group holds a share of a run's connections: a fleet in this process, or
// a worker process.
type group interface {
	// ramp opens the connections; it returns when each has subscribed or
	// failed.
	ramp(ctx context.Context) (*tally, error)
	// progress returns the counts so far; it may be called at any time.
	progress() progress
	// close closes the connections and returns the final tally.
	close() (*tally, error)
}

var _ group = (*fleet)(nil)

// fleet is a group of connections in this process. A connection has a
// goroutine while it dials and subscribes (at most RampConcurrency at a
// time); then the reader loops serve it.
type fleet struct {
	job     job
	targets []*target
	bound   []*net.Dialer
	plain   *net.Dialer
	ctr     counters
	hs      *Hist

	readers           *readers
	connected, failed atomic.Int64

	mu         sync.Mutex // guards the fields below
	failures   map[string]int
	ended      map[string]int
	perChannel []int
}

func newFleet(ctx context.Context, j job) (*fleet, error) {
	ts, err := resolveAll(ctx, j.URLs, j.AllowRemote)
	if err != nil {
		return nil, err
	}
	f := &fleet{
		job:        j,
		targets:    ts,
		hs:         NewHist(),
		failures:   map[string]int{},
		ended:      map[string]int{},
		perChannel: make([]int, j.Channels),
	}
	f.ctr.latency = NewHist()
	f.bound, f.plain = dialers(j.Sources, j.HandshakeTimeout)
	if f.readers, err = newReaders(f.lost); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *fleet) progress() progress {
	return progress{
		Connected: f.connected.Load(),
		Failed:    f.failed.Load(),
		Received:  f.ctr.received.Load(),
		Last:      f.ctr.last.Load(),
	}
}

func (f *fleet) ramp(ctx context.Context) (*tally, error) {
	j := f.job
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, j.RampTimeout)
	defer cancel()
	var interval time.Duration
	if j.RampRate > 0 {
		interval = time.Duration(float64(time.Second) / (j.RampRate * max(j.Share, 1e-9)))
	}
	sem := make(chan struct{}, j.RampConcurrency)
	var dialing sync.WaitGroup
	var err error
	for k := range j.Count {
		if interval > 0 {
			if err = sleepUntil(ctx, start.Add(time.Duration(k)*interval)); err != nil {
				break
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			err = ctx.Err()
		}
		if err != nil {
			break
		}
		dialing.Add(1)
		go f.open(ctx, j.First+k, sem, &dialing)
	}
	dialing.Wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := int64(j.Count) - f.connected.Load() - f.failed.Load(); n > 0 {
		f.failures["not started (ramp timeout)"] += int(n)
		f.failed.Add(n)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		err = nil // the ramp timeout: reported as connections not started
	}
	t := &tally{
		Connected:   int(f.connected.Load()),
		Failed:      int(f.failed.Load()),
		Failures:    clone(f.failures),
		Handshake:   f.hs,
		PerChannel:  append([]int(nil), f.perChannel...),
		RampSeconds: time.Since(start).Seconds(),
	}
	return t, err
}

// open dials connection i and hands it to the readers.
func (f *fleet) open(ctx context.Context, i int, sem chan struct{}, dialing *sync.WaitGroup) {
	defer dialing.Done()
	t := f.targets[i%len(f.targets)]
	d := dialerFor(t, i/len(f.targets), f.bound, f.plain)
	ch := i % f.job.Channels
	start := time.Now()
	hctx, cancel := context.WithTimeout(ctx, f.job.HandshakeTimeout)
	var c *conn
	var err error
	if f.job.Transport == SSE {
		c, err = dialSSE(hctx, t, d, channelName(ch), f.job.Token, &f.ctr)
	} else {
		c, err = dialWS(hctx, t, d, channelName(ch), f.job.Token, &f.ctr, f.job.Protocol == Centrifugo)
	}
	cancel()
	<-sem
	took := time.Since(start)
	if err == nil {
		err = f.readers.add(c)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		f.failures[reason(err)]++
		f.failed.Add(1)
		return
	}
	f.hs.Record(int64(took))
	f.perChannel[ch]++
	f.connected.Add(1)
}

// lost counts a connection that ended before the fleet closed it.
func (f *fleet) lost(c *conn, err error) {
	why := c.end
	if why == "" {
		why = reason(err)
	}
	f.mu.Lock()
	f.ended[why]++
	f.mu.Unlock()
}

func (f *fleet) close() (*tally, error) {
	f.readers.close()
	f.mu.Lock()
	defer f.mu.Unlock()
	return &tally{
		Connected:  int(f.connected.Load()),
		Failed:     int(f.failed.Load()),
		Failures:   clone(f.failures),
		Handshake:  f.hs,
		PerChannel: append([]int(nil), f.perChannel...),
		Received:   f.ctr.received.Load(),
		Last:       f.ctr.last.Load(),
		Latency:    f.ctr.latency,
		Ended:      clone(f.ended),
	}, nil
}

func clone(m map[string]int) map[string]int {
	c := make(map[string]int, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// sleepUntil waits until t or the end of ctx.
func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
