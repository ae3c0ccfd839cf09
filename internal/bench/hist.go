package bench

import (
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Hist is a log-linear histogram of durations in the manner of
// HdrHistogram: values below 256ns get a bucket each; above, every power of
// two is cut into 128 buckets of equal width, so a value is known to within
// 1/128 (0.8%) of itself. Values above HistMax are counted as HistMax; the
// exact minimum, maximum and sum are kept aside.
//
// Record is safe for concurrent use; the other methods must not run
// concurrently with Record or Merge.
type Hist struct {
	counts []atomic.Uint64
	sum    atomic.Int64
	min    atomic.Int64
	max    atomic.Int64
}

const (
	// subBits is log2 of the buckets per power of two.
	subBits = 7
	subN    = 1 << subBits
	// HistMax is the largest duration a Hist tells apart.
	HistMax = 60 * time.Second
)

var histBuckets = bucketOf(int64(HistMax)) + 1

// NewHist returns an empty histogram.
func NewHist() *Hist {
	h := &Hist{counts: make([]atomic.Uint64, histBuckets)}
	h.min.Store(math.MaxInt64)
	return h
}

// bucketOf returns the bucket of v, 0 <= v <= HistMax.
func bucketOf(v int64) int {
	if v < 2*subN {
		return int(v)
	}
	e := bits.Len64(uint64(v)) - (subBits + 1) // v>>e is in [subN, 2*subN)
	return 2*subN + (e-1)*subN + int(v>>e) - subN
}

// bucketRange returns the smallest value of bucket i and its width.
func bucketRange(i int) (low, width int64) {
	if i < 2*subN {
		return int64(i), 1
	}
	e := (i-2*subN)/subN + 1
	m := int64((i-2*subN)%subN + subN)
	return m << e, 1 << e
}

// Record adds one duration, in nanoseconds. Negative values count as 0.
func (h *Hist) Record(ns int64) {
	ns = max(ns, 0)
	h.counts[bucketOf(min(ns, int64(HistMax)))].Add(1)
	h.sum.Add(ns)
	for cur := h.max.Load(); ns > cur && !h.max.CompareAndSwap(cur, ns); cur = h.max.Load() {
	}
	for cur := h.min.Load(); ns < cur && !h.min.CompareAndSwap(cur, ns); cur = h.min.Load() {
	}
}

// Count returns the number of recorded values.
func (h *Hist) Count() uint64 {
	var n uint64
	for i := range h.counts {
		n += h.counts[i].Load()
	}
	return n
}

// Max returns the largest recorded value, 0 if none.
func (h *Hist) Max() int64 { return h.max.Load() }

// Min returns the smallest recorded value, 0 if none.
func (h *Hist) Min() int64 {
	if v := h.min.Load(); v != math.MaxInt64 {
		return v
	}
	return 0
}

// Mean returns the mean of the recorded values, 0 if none.
func (h *Hist) Mean() float64 {
	n := h.Count()
	if n == 0 {
		return 0
	}
	return float64(h.sum.Load()) / float64(n)
}

// Quantile returns the value below or at which a fraction q (0 to 1) of
// the recorded values lie: the highest value of the bucket that holds the
// value of rank ceil(q*count), within the exact minimum and maximum (the
// top rank is the exact maximum). It returns 0 if nothing was recorded.
func (h *Hist) Quantile(q float64) int64 {
	n := h.Count()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = min(max(rank, 1), n)
	if rank == n {
		return h.Max()
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			low, width := bucketRange(i)
			return min(max(low+width-1, h.Min()), h.Max())
		}
	}
	return h.Max()
}

// Merge adds the values recorded in o to h.
func (h *Hist) Merge(o *Hist) {
	if o == nil {
		return
	}
	for i := range o.counts {
		if c := o.counts[i].Load(); c != 0 {
			h.counts[i].Add(c)
		}
	}
	h.sum.Add(o.sum.Load())
	if v := o.max.Load(); v > h.max.Load() {
		h.max.Store(v)
	}
	if v := o.min.Load(); v < h.min.Load() {
		h.min.Store(v)
	}
}

// histJSON is the wire form of a Hist: the non-empty buckets as
// [index, count] pairs.
type histJSON struct {
	Buckets [][2]uint64 `json:"buckets"`
	Sum     int64       `json:"sum"`
	Min     int64       `json:"min"`
	Max     int64       `json:"max"`
}

// MarshalJSON encodes the histogram compactly, for merging elsewhere.
func (h *Hist) MarshalJSON() ([]byte, error) {
	j := histJSON{Buckets: [][2]uint64{}, Sum: h.sum.Load(), Min: h.min.Load(), Max: h.max.Load()}
	for i := range h.counts {
		if c := h.counts[i].Load(); c != 0 {
			j.Buckets = append(j.Buckets, [2]uint64{uint64(i), c})
		}
	}
	return json.Marshal(j)
}

// UnmarshalJSON replaces h with the histogram MarshalJSON encoded.
func (h *Hist) UnmarshalJSON(b []byte) error {
	var j histJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*h = Hist{counts: make([]atomic.Uint64, histBuckets)}
	for _, bc := range j.Buckets {
		if bc[0] >= uint64(len(h.counts)) {
			return fmt.Errorf("bench: histogram bucket %d out of range", bc[0])
		}
		h.counts[bc[0]].Store(bc[1])
	}
	h.sum.Store(j.Sum)
	h.min.Store(j.Min)
	h.max.Store(j.Max)
	return nil
}

// Percentiles summarizes a Hist in milliseconds.
type Percentiles struct {
	Count uint64  `json:"count"`
	Min   float64 `json:"min_ms"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p99_9_ms"`
	Max   float64 `json:"max_ms"`
}

// Percentiles returns the usual summary of h.
func (h *Hist) Percentiles() Percentiles {
	ms := func(ns int64) float64 { return float64(ns) / 1e6 }
	return Percentiles{
		Count: h.Count(),
		Min:   ms(h.Min()),
		Mean:  h.Mean() / 1e6,
		P50:   ms(h.Quantile(0.50)),
		P90:   ms(h.Quantile(0.90)),
		P99:   ms(h.Quantile(0.99)),
		P999:  ms(h.Quantile(0.999)),
		Max:   ms(h.Max()),
	}
}
