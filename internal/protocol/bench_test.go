package protocol_test

import (
	"testing"

	"github.com/heraldrt/herald/internal/protocol"
)

func BenchmarkValidateChannel(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := protocol.ValidateChannel("chat.room-42:users/eu", protocol.DefaultMaxChannelLength); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeCommand(b *testing.B) {
	frame := []byte(`{"id":42,"op":"subscribe","channel":"chat.room-42"}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for i := 0; i < b.N; i++ {
		if _, err := protocol.DecodeCommand(frame); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendMessage(b *testing.B) {
	data := []byte(`{"t":1732700000000000000,"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`)
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = protocol.AppendMessage(buf[:0], "chat.room-42", nil, data)
	}
}
