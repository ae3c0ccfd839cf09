package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// Modes.
const (
	modeConnect = "connect"
	modeIdle    = "idle"
	modeFanout  = "fanout"
	modePublish = "publish"
)

// run is one run's connections, split over groups, with what the report
// needs to know about them.
type run struct {
	o       Options
	targets []*target
	groups  []group
	workers []*workerGroup
	start   time.Time
	cpu0    float64 // this process's CPU time at the start
	closed  bool
}

// newRun gives o the defaults of mode, checks the options and the targets
// and prepares the groups; no connection is opened yet. It returns the
// options as completed.
func newRun(ctx context.Context, o Options, mode string) (*run, Options, error) {
	o, err := o.withDefaults(mode)
	if err != nil {
		return nil, o, err
	}
	ts, err := resolveAll(ctx, o.URLs, o.AllowRemote)
	if err != nil {
		return nil, o, err
	}
	r := &run{o: o, targets: ts, start: time.Now(), cpu0: selfCPU()}
	workers := o.Workers
	if workers == 0 && o.Conns > o.MaxPerProcess {
		workers = (o.Conns + o.MaxPerProcess - 1) / o.MaxPerProcess
	}
	base := job{
		Protocol:         o.Protocol,
		Transport:        o.Transport,
		URLs:             o.URLs,
		AllowRemote:      o.AllowRemote,
		Token:            o.Token,
		Channels:         o.Channels,
		Sources:          o.Sources,
		RampConcurrency:  o.RampConcurrency,
		RampRate:         o.RampRate,
		HandshakeTimeout: o.HandshakeTimeout,
		RampTimeout:      o.RampTimeout,
		Deadline:         time.Now().Add(o.RampTimeout + o.Hold + 2*o.Duration + o.Settle + o.Wait + 2*time.Minute),
	}
	if workers == 0 {
		j := base
		j.Count, j.Share = o.Conns, 1
		f, err := newFleet(ctx, j)
		if err != nil {
			return nil, o, err
		}
		r.groups = []group{f}
		return r, o, nil
	}
	argv, err := workerCommand(o)
	if err != nil {
		return nil, o, err
	}
	stderr := o.Progress
	if stderr == nil {
		stderr = io.Discard
	}
	per := (o.Conns + workers - 1) / workers
	for first := 0; first < o.Conns; first += per {
		j := base
		j.First, j.Count = first, min(per, o.Conns-first)
		j.RampConcurrency = max(1, o.RampConcurrency/workers)
		j.Share = float64(j.Count) / float64(o.Conns)
		w, err := startWorker(argv, j, stderr)
		if err != nil {
			r.close()
			return nil, o, err
		}
		r.groups = append(r.groups, w)
		r.workers = append(r.workers, w)
	}
	return r, o, nil
}

// ramp opens every group's connections, showing progress, and returns the
// merged tally.
func (r *run) ramp(ctx context.Context) (*tally, error) {
	tallies := make([]*tally, len(r.groups))
	errs := make([]error, len(r.groups))
	var wg sync.WaitGroup
	for i, g := range r.groups {
		wg.Go(func() { tallies[i], errs[i] = g.ramp(ctx) })
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	start := time.Now()
	tk := time.NewTicker(500 * time.Millisecond)
	defer tk.Stop()
	var shown progress
	for wait := true; wait; {
		select {
		case <-done:
			wait = false
		case <-tk.C:
			p := r.progress()
			if p != shown {
				r.say("ramp: %d/%d connected, %d failed, %.0f/s", p.Connected, r.o.Conns, p.Failed,
					float64(p.Connected)/time.Since(start).Seconds())
				shown = p
			}
		}
	}
	t := &tally{}
	for i := range tallies {
		if errs[i] != nil {
			return nil, errs[i]
		}
		t.merge(tallies[i])
	}
	r.say("ramp: %d connected, %d failed in %.2fs", t.Connected, t.Failed, time.Since(start).Seconds())
	return t, nil
}

// progress sums the groups' progress.
func (r *run) progress() progress {
	var s progress
	for _, g := range r.groups {
		p := g.progress()
		s.Connected += p.Connected
		s.Failed += p.Failed
		s.Received += p.Received
		s.Last = max(s.Last, p.Last)
	}
	return s
}

// close closes every group once and returns the merged final tally.
func (r *run) close() (*tally, error) {
	if r.closed {
		return nil, errors.New("bench: closed twice")
	}
	r.closed = true
	t := &tally{}
	var errs []error
	for _, g := range r.groups {
		gt, err := g.close()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		t.merge(gt)
	}
	return t, errors.Join(errs...)
}

// stop closes the groups if they are still open: for the error paths.
func (r *run) stop() {
	if !r.closed {
		_, _ = r.close()
	}
}

// cpu returns the CPU seconds this process and its workers have used.
func (r *run) cpu() float64 {
	s := selfCPU()
	for _, w := range r.workers {
		s += w.cpu()
	}
	return s
}

// hold keeps the n open connections open for d, or until ctx ends.
func (r *run) hold(ctx context.Context, d time.Duration, n int) error {
	if d <= 0 {
		return nil
	}
	r.say("holding %d connections for %s", n, d)
	return sleepUntil(ctx, time.Now().Add(d))
}

func (r *run) say(format string, args ...any) {
	if r.o.Progress != nil {
		fmt.Fprintf(r.o.Progress, format+"\n", args...)
	}
}

// report starts a report with what every connection mode shares.
func (r *run) report(mode string, ramp, final *tally) *Report {
	rep := &Report{
		Mode:      mode,
		Protocol:  r.o.Protocol,
		Transport: r.o.Transport,
		URLs:      r.o.URLs,
		Conns:     r.o.Conns,
		Channels:  r.o.Channels,
		Workers:   len(r.workers),
		Sources:   r.o.Sources,
		Ramp:      rampReport(ramp, r.o.Conns),
	}
	if final != nil && len(final.Ended) > 0 {
		rep.Ended = final.Ended
	}
	return rep
}

// finish fills in the run's duration and the generator's CPU.
func (r *run) finish(rep *Report, cpu float64) *Report {
	rep.Seconds = time.Since(r.start).Seconds()
	rep.Generator = cpuReport(cpu-r.cpu0, rep.Seconds, len(r.workers)+1)
	return rep
}
