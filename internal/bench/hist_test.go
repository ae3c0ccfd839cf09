package bench

import (
	"encoding/json"
	"math"
	"sync"
	"testing"
	"time"
)

func TestHistBucketsCoverTheRange(t *testing.T) {
	t.Parallel()
	prevLow := int64(-1)
	for i := range histBuckets {
		low, width := bucketRange(i)
		if low <= prevLow {
			t.Fatalf("bucket %d starts at %d, not after %d", i, low, prevLow)
		}
		if i > 0 {
			pl, pw := bucketRange(i - 1)
			if pl+pw != low {
				t.Fatalf("gap between bucket %d (%d+%d) and %d (%d)", i-1, pl, pw, i, low)
			}
		}
		for _, v := range []int64{low, low + width - 1} {
			if got := bucketOf(v); got != i {
				t.Fatalf("bucketOf(%d) = %d, want %d", v, got, i)
			}
		}
		if low >= 2*subN && float64(width)/float64(low) > 1.0/subN {
			t.Fatalf("bucket %d: width %d is over 1/%d of %d", i, width, subN, low)
		}
		prevLow = low
	}
	if low, width := bucketRange(histBuckets - 1); low+width <= int64(HistMax) {
		t.Fatalf("the last bucket ends at %d, below HistMax", low+width)
	}
}

func TestHistPercentilesOfKnownData(t *testing.T) {
	t.Parallel()
	h := NewHist()
	// 1µs, 2µs, ..., 100ms: each quantile q is q*100ms.
	const n = 100000
	for i := int64(1); i <= n; i++ {
		h.Record(i * int64(time.Microsecond))
	}
	if h.Count() != n {
		t.Fatalf("count %d, want %d", h.Count(), n)
	}
	for _, tt := range []struct {
		q    float64
		want float64 // ns
	}{
		{0.5, 50e6}, {0.9, 90e6}, {0.99, 99e6}, {0.999, 99.9e6}, {0.0001, 10e3},
	} {
		got := float64(h.Quantile(tt.q))
		if math.Abs(got-tt.want)/tt.want > 0.01 {
			t.Errorf("quantile %v = %v, want %v within 1%%", tt.q, got, tt.want)
		}
		if got < tt.want {
			t.Errorf("quantile %v = %v is below the true value %v", tt.q, got, tt.want)
		}
	}
	if h.Min() != int64(time.Microsecond) || h.Max() != 100*int64(time.Millisecond) {
		t.Errorf("min %d max %d", h.Min(), h.Max())
	}
	if h.Quantile(1) != h.Max() || h.Quantile(0) != h.Quantile(1.0/n) {
		t.Errorf("quantile 1 = %d, quantile 0 = %d", h.Quantile(1), h.Quantile(0))
	}
	if m := h.Mean(); math.Abs(m-50.0005e6) > 1 {
		t.Errorf("mean %v", m)
	}
	p := h.Percentiles()
	if p.Count != n || math.Abs(p.P50-50) > 0.5 || p.Max != 100 {
		t.Errorf("percentiles %+v", p)
	}
}

func TestHistEdges(t *testing.T) {
	t.Parallel()
	h := NewHist()
	if h.Quantile(0.5) != 0 || h.Min() != 0 || h.Max() != 0 || h.Mean() != 0 {
		t.Fatal("an empty histogram reports values")
	}
	h.Record(-5)                     // counts as 0
	h.Record(int64(2 * HistMax))     // kept in the top bucket
	h.Record(int64(time.Second))     // an ordinary value
	h.Record(int64(time.Second))     // twice
	h.Record(int64(time.Second) + 1) // same bucket
	if h.Min() != 0 || h.Max() != int64(2*HistMax) {
		t.Errorf("min %d max %d", h.Min(), h.Max())
	}
	if q := h.Quantile(0.5); q < int64(time.Second) || float64(q) > 1.01*float64(time.Second) {
		t.Errorf("median %d", q)
	}
	if h.Quantile(1) != int64(2*HistMax) {
		t.Errorf("quantile 1 = %d, want the exact max", h.Quantile(1))
	}
	// A single value is reported exactly, not as its bucket's top.
	one := NewHist()
	one.Record(123456789)
	for _, q := range []float64{0, 0.5, 0.999, 1} {
		if got := one.Quantile(q); got != 123456789 {
			t.Errorf("single value: quantile %v = %d", q, got)
		}
	}
}

func TestHistMergeAndJSON(t *testing.T) {
	t.Parallel()
	all, a, b := NewHist(), NewHist(), NewHist()
	for i := int64(0); i < 5000; i++ {
		v := i * i * 1000
		all.Record(v)
		if i%3 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
	}
	// Through the wire form, as worker results travel.
	var got Hist
	enc, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(enc, &got); err != nil {
		t.Fatal(err)
	}
	got.Merge(b)
	if got.Count() != all.Count() || got.Min() != all.Min() || got.Max() != all.Max() || got.Mean() != all.Mean() {
		t.Fatalf("merged %d/%d/%d/%v, want %d/%d/%d/%v", got.Count(), got.Min(), got.Max(), got.Mean(),
			all.Count(), all.Min(), all.Max(), all.Mean())
	}
	for _, q := range []float64{0.1, 0.5, 0.9, 0.99, 0.999} {
		if got.Quantile(q) != all.Quantile(q) {
			t.Errorf("quantile %v: merged %d, direct %d", q, got.Quantile(q), all.Quantile(q))
		}
	}
	// An empty histogram survives the trip too.
	enc, _ = json.Marshal(NewHist())
	var empty Hist
	if err := json.Unmarshal(enc, &empty); err != nil || empty.Count() != 0 || empty.Min() != 0 {
		t.Fatalf("empty: %v %d %d", err, empty.Count(), empty.Min())
	}
	if err := json.Unmarshal([]byte(`{"buckets":[[999999,1]]}`), &empty); err == nil {
		t.Error("a bucket out of range was accepted")
	}
}

func TestHistConcurrentRecord(t *testing.T) {
	t.Parallel()
	h := NewHist()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 1000 {
				h.Record(int64(g*1000 + i))
			}
		})
	}
	wg.Wait()
	if h.Count() != 4000 || h.Min() != 0 || h.Max() != 3999 {
		t.Fatalf("count %d min %d max %d", h.Count(), h.Min(), h.Max())
	}
}

func BenchmarkHistRecord(b *testing.B) {
	h := NewHist()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.Record(int64(i%1000000) * 1000)
	}
}
