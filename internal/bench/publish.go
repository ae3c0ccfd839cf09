package bench

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// maxRequestsPerWorker bounds each publish worker's loop in count, besides
// the run's duration.
const maxRequestsPerWorker = 10_000_000

// publisher posts to a node's publish API over a few kept-alive
// connections.
type publisher struct {
	client *http.Client
	base   string // http://host/path
	key    string
	cf     bool   // a Centrifugo server API
	pad    []byte // padding for messages of the asked size
	size   int
}

func newPublisher(t *target, protocol, key string, conns, size int) *publisher {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &publisher{
		client: &http.Client{
			Timeout: 10 * time.Second,
			Transport: &http.Transport{
				DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
					return d.DialContext(ctx, "tcp", t.addr)
				},
				MaxIdleConns:        conns,
				MaxIdleConnsPerHost: conns,
				MaxConnsPerHost:     conns,
				IdleConnTimeout:     30 * time.Second,
				DisableCompression:  true,
			},
		},
		base: "http://" + t.host + t.path,
		key:  key,
		cf:   protocol == Centrifugo,
		pad:  bytes.Repeat([]byte("x"), size),
		size: size,
	}
}

func (p *publisher) close() { p.client.CloseIdleConnections() }

// post sends body to the API path; an answer other than 200 is a
// refusedError naming the status and error code, and so is a Centrifugo
// answer that holds an error.
func (p *publisher) post(ctx context.Context, path string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	switch {
	case p.key == "":
	case p.cf:
		req.Header.Set("X-API-Key", p.key)
	default:
		req.Header.Set("Authorization", "Bearer "+p.key)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		r := "http " + strconv.Itoa(resp.StatusCode)
		if code := jsonString(b, "code"); code != "" {
			r += " " + code
		}
		return &refusedError{r}
	}
	if err == nil && p.cf {
		err = cfAPIError(b)
	}
	return err
}

// appendData appends {"t":<t>,"pad":"xx..."}, padded to p.size bytes when
// that is more than the message without padding.
func (p *publisher) appendData(b []byte, t int64) []byte {
	start := len(b)
	b = append(b, `{"t":`...)
	b = strconv.AppendInt(b, t, 10)
	b = append(b, `,"pad":"`...)
	n := p.size - (len(b) - start) - len(`"}`)
	b = append(b, p.pad[:max(n, 0)]...)
	return append(b, `"}`...)
}

// appendPublish appends a /api/publish body for channel with send time t.
func (p *publisher) appendPublish(b []byte, channel string, t int64) []byte {
	b = append(b, `{"channel":"`...)
	b = append(b, channel...)
	b = append(b, `","data":`...)
	b = p.appendData(b, t)
	return append(b, '}')
}

// appendBroadcast appends a /api/broadcast body for channels.
func (p *publisher) appendBroadcast(b []byte, channels []string, t int64) []byte {
	b = append(b, `{"channels":[`...)
	for i, c := range channels {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, c)
	}
	b = append(b, `],"data":`...)
	b = p.appendData(b, t)
	return append(b, '}')
}

// Publish measures the publish API's throughput: o.Concurrency workers
// post back to back for o.Duration, each request to one channel (rotating
// over o.Channels) or, with o.Broadcast, to that many through
// /api/broadcast. Herald's and Centrifugo's APIs take the same paths and
// bodies.
func Publish(ctx context.Context, o Options) (*Report, error) {
	o, err := o.withDefaults(modePublish)
	if err != nil {
		return nil, err
	}
	t, err := resolve(ctx, o.API, o.AllowRemote)
	if err != nil {
		return nil, err
	}
	p := newPublisher(t, o.Protocol, o.APIKey, o.Concurrency, o.Size)
	defer p.close()

	// Every body is made before the clock starts.
	path, bodies := "/api/publish", make([][]byte, 0, o.Channels)
	if o.Broadcast > 0 {
		chans := make([]string, o.Broadcast)
		for i := range chans {
			chans[i] = channelName(i % o.Channels)
		}
		path, bodies = "/api/broadcast", append(bodies, p.appendBroadcast(nil, chans, 0))
	} else {
		for i := range o.Channels {
			bodies = append(bodies, p.appendPublish(nil, channelName(i), 0))
		}
	}

	cpu0, start := selfCPU(), time.Now()
	deadline := start.Add(o.Duration)
	wctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	lat := NewHist()
	var requests, ok atomic.Uint64
	var mu sync.Mutex
	errs := map[string]int{}
	var wg sync.WaitGroup
	for w := range o.Concurrency {
		wg.Go(func() {
			for k := 0; k < maxRequestsPerWorker && time.Now().Before(deadline); k++ {
				t0 := time.Now()
				err := p.post(wctx, path, bodies[(w+k*o.Concurrency)%len(bodies)])
				if err != nil && wctx.Err() != nil {
					return // cut by the end of the run: not counted
				}
				lat.Record(int64(time.Since(t0)))
				requests.Add(1)
				if err == nil {
					ok.Add(1)
					continue
				}
				mu.Lock()
				errs[reason(err)]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	secs := time.Since(start).Seconds()
	perReq := 1
	if o.Broadcast > 0 {
		perReq = o.Broadcast
	}
	rep := &Report{
		Mode:     modePublish,
		Protocol: o.Protocol,
		API:      o.API,
		Publish: &PublishReport{
			Concurrency: o.Concurrency,
			Broadcast:   o.Broadcast,
			Size:        o.Size,
			Seconds:     secs,
			Requests:    requests.Load(),
			OK:          ok.Load(),
			PerSecond:   float64(ok.Load()) / secs,
			Messages:    float64(ok.Load()*uint64(perReq)) / secs,
			Latency:     lat.Percentiles(),
		},
		Seconds:   secs,
		Generator: cpuReport(selfCPU()-cpu0, secs, 1),
	}
	if len(errs) > 0 {
		rep.Publish.Errors = errs
	}
	return rep, nil
}
