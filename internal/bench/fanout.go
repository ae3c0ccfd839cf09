package bench

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Fanout subscribes o.Conns connections to o.Channels channels over the
// gateways, publishes o.Rate messages a second for o.Duration through the
// API, round-robin over the channels, each stamped with its send time,
// waits up to o.Wait for late deliveries, and reports what was expected
// and received, the delivery latency, and the CPU time the servers
// (o.PIDs) and the generator spent per delivery.
func Fanout(ctx context.Context, o Options) (*Report, error) {
	r, o, err := newRun(ctx, o, modeFanout)
	if err != nil {
		return nil, err
	}
	defer r.stop()
	api, err := resolve(ctx, o.API, o.AllowRemote)
	if err != nil {
		return nil, err
	}
	ramp, err := r.ramp(ctx)
	if err != nil {
		return nil, err
	}
	if ramp.Connected == 0 {
		return nil, fmt.Errorf("bench: no connection subscribed (%s)", counts(ramp.Failures))
	}
	if err := sleepUntil(ctx, time.Now().Add(o.Settle)); err != nil {
		return nil, err
	}

	p := newPublisher(api, o.Protocol, o.APIKey, o.Concurrency, o.Size)
	defer p.close()
	srv0, srv0Errs := cpuOf(o.PIDs)
	gen0 := r.cpu()
	r.say("publishing %.0f/s for %s to %d channels", o.Rate, o.Duration, o.Channels)
	pub := p.schedule(ctx, o, ramp.PerChannel)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	waitEnd := time.Now().Add(o.Wait)
	for r.progress().Received < pub.expected && time.Now().Before(waitEnd) {
		if err := sleepUntil(ctx, time.Now().Add(10*time.Millisecond)); err != nil {
			return nil, err
		}
	}
	window := time.Since(pub.start).Seconds()
	srv1, srvErrs := cpuOf(o.PIDs)
	gen1 := r.cpu()
	final, err := r.close()
	if err != nil {
		return nil, err
	}

	f := &FanoutReport{
		Rate:           o.Rate,
		Size:           o.Size,
		Messages:       pub.planned,
		Published:      pub.published,
		NotSent:        pub.planned - pub.sent,
		PublishSeconds: pub.seconds,
		PublishLagMax:  float64(pub.lagMax) / 1e6,
		Expected:       pub.expected,
		Received:       final.Received,
		Latency:        final.Latency.Percentiles(),
		WindowSeconds:  window,
		GeneratorCPU:   gen1 - gen0,
	}
	if len(pub.errs) > 0 {
		f.PublishErrors = pub.errs
	}
	if f.Expected > f.Received {
		f.Lost = f.Expected - f.Received
	}
	if f.Expected > 0 {
		f.LossPercent = 100 * float64(f.Lost) / float64(f.Expected)
	}
	if final.Last > pub.start.UnixNano() {
		f.DeliveryPerSec = float64(f.Received) / (float64(final.Last-pub.start.UnixNano()) / 1e9)
	}
	var srvTotal float64
	for i, pid := range o.PIDs {
		pc := ProcessCPU{PID: pid, Seconds: srv1[i] - srv0[i], Error: cmp.Or(srv0Errs[i], srvErrs[i])}
		srvTotal += pc.Seconds
		f.Server = append(f.Server, pc)
	}
	if f.Received > 0 {
		f.ServerCPUPerDelivery = 1e6 * srvTotal / float64(f.Received)
		f.GeneratorCPUPerDelivery = 1e6 * f.GeneratorCPU / float64(f.Received)
	}
	rep := r.report(modeFanout, ramp, final)
	rep.API = o.API
	rep.Fanout = f
	return r.finish(rep, r.cpu()), nil
}

// pubResult is how the publishing went.
type pubResult struct {
	start     time.Time
	planned   int // messages to publish
	sent      int // handed to a worker
	published int // answered 200
	errs      map[string]int
	expected  uint64 // deliveries the published messages owe
	seconds   float64
	lagMax    time.Duration
}

// schedule publishes o.Rate messages a second for o.Duration, message k to
// channel k % o.Channels at start + k/o.Rate, through o.Concurrency
// workers. perChannel counts each channel's subscribers, for the
// deliveries expected. It stops sending when it falls far behind (twice
// the duration and 10s), or ctx ends.
func (p *publisher) schedule(ctx context.Context, o Options, perChannel []int) pubResult {
	res := pubResult{planned: int(math.Round(o.Rate * o.Duration.Seconds())), errs: map[string]int{}}
	names := make([]string, o.Channels)
	for i := range names {
		names[i] = channelName(i)
	}
	var expected atomic.Uint64
	var published atomic.Int64
	var mu sync.Mutex
	jobs := make(chan int, o.Concurrency)
	var wg sync.WaitGroup
	for range o.Concurrency {
		wg.Go(func() {
			var body []byte
			for k := range jobs {
				ch := k % o.Channels
				body = p.appendPublish(body[:0], names[ch], time.Now().UnixNano())
				err := p.post(ctx, "/api/publish", body)
				if err == nil {
					published.Add(1)
					if ch < len(perChannel) {
						expected.Add(uint64(perChannel[ch]))
					}
					continue
				}
				mu.Lock()
				res.errs[reason(err)]++
				mu.Unlock()
			}
		})
	}
	interval := time.Duration(float64(time.Second) / o.Rate)
	res.start = time.Now()
	stopBy := res.start.Add(2*o.Duration + 10*time.Second)
	for k := 0; k < res.planned; k++ {
		due := res.start.Add(time.Duration(k) * interval)
		if sleepUntil(ctx, due) != nil || time.Now().After(stopBy) {
			break
		}
		select {
		case jobs <- k:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		res.sent++
		res.lagMax = max(res.lagMax, time.Since(due))
	}
	close(jobs)
	wg.Wait()
	res.seconds = time.Since(res.start).Seconds()
	res.published = int(published.Load())
	res.expected = expected.Load()
	return res
}
