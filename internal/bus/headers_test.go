package bus_test

import (
	"strconv"
	"testing"

	"github.com/heraldrt/herald/internal/bus"
	"github.com/heraldrt/herald/internal/protocol"
	"github.com/nats-io/nats.go"
)

// Headers come from whoever publishes on NATS: a position is read only
// from a valid epoch and a positive offset, and reads back as written.
func FuzzParsePosition(f *testing.F) {
	for _, seed := range [][2]string{
		{"k3Xw9QpLzA", "1"}, {"e", "18446744073709551615"}, {"", "1"}, {"e", "0"},
		{"e", "-1"}, {"e", "1.5"}, {"bad epoch", "3"}, {"e", " 7"}, {"ünï", "2"},
		{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "1"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, epoch, offset string) {
		h := nats.Header{}
		h.Set(bus.HeaderEpoch, epoch)
		h.Set(bus.HeaderOffset, offset)
		pos, ok := bus.ParsePosition(h)
		if !ok {
			return
		}
		if pos.Epoch != epoch || pos.Epoch == "" || !protocol.ValidEpoch(pos.Epoch) || pos.Offset == 0 {
			t.Fatalf("ParsePosition(%q, %q) = %+v", epoch, offset, pos)
		}
		if n, err := strconv.ParseUint(offset, 10, 64); err != nil || n != pos.Offset {
			t.Fatalf("offset %q read as %d", offset, pos.Offset)
		}
	})
}
