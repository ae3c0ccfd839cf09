package hub

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/heraldrt/herald/internal/protocol"
)

// maxFormats is how many wire formats a message can be encoded in.
const maxFormats = 4

var formats atomic.Int32

// Format is one transport's wire encoding of a message.
type Format struct {
	index  int
	encode func(m *Message) []byte
}

// NewFormat registers a wire encoding. Call it at package init; at most
// four formats exist.
func NewFormat(encode func(m *Message) []byte) *Format {
	i := int(formats.Add(1)) - 1
	if i >= maxFormats {
		panic(fmt.Sprintf("hub: more than %d formats", maxFormats))
	}
	return &Format{index: i, encode: encode}
}

// Message is one published message on its way to local subscribers. It is
// shared by all of them and must not be modified.
type Message struct {
	Channel string
	Data    []byte             // a valid JSON value, as published
	Pos     *protocol.Position // the message's position; nil when the channel keeps no history

	// Notice, when set, makes this a recovery notice rather than a message:
	// subscribers are told they could not be brought up to date.
	Notice *protocol.Recovery

	enc [maxFormats]encoding
}

type encoding struct {
	once sync.Once
	b    []byte
}

// Bytes returns m in format f, encoding it on first use only, so a message
// costs one encoding per format per node however many subscribers get it.
// The result is shared and must not be modified.
func (m *Message) Bytes(f *Format) []byte {
	e := &m.enc[f.index]
	e.once.Do(func() { e.b = f.encode(m) })
	return e.b
}

// Fit returns the longest run of msgs whose sizes add up to at most
// budget: the first ones, or with newest the last ones. Reads of history
// use it to keep an answer within what its reader can take.
func Fit(msgs []*Message, newest bool, budget int, size func(*Message) int) []*Message {
	n := 0
	for n < len(msgs) {
		m := msgs[n]
		if newest {
			m = msgs[len(msgs)-1-n]
		}
		if budget -= size(m); budget < 0 {
			break
		}
		n++
	}
	if newest {
		return msgs[len(msgs)-n:]
	}
	return msgs[:n]
}
