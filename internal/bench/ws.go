package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/gobwas/ws"
)

// Prefixes of the server frames a bench client tells apart (see
// internal/protocol/encode.go: the op always comes first).
var (
	wsMessage    = []byte(`{"op":"message"`)
	wsWelcome    = []byte(`{"op":"welcome"`)
	wsReply      = []byte(`{"op":"reply"`)
	wsDisconnect = []byte(`{"op":"disconnect"`)
)

// dialWS opens a WebSocket to t through d, presenting token if any,
// subscribes to channel and waits for the reply. With cf it speaks
// Centrifugo's protocol: it connects, then subscribes (see centrifugo.go).
func dialWS(ctx context.Context, t *target, d *net.Dialer, channel, token string, ctr *counters, cf bool) (*conn, error) {
	deadline, _ := ctx.Deadline()
	var refusal string
	wd := ws.Dialer{
		NetDial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", t.addr)
		},
		OnStatusError: func(status int, _ []byte, resp io.Reader) {
			refusal = "http " + strconv.Itoa(status)
			if r, err := http.ReadResponse(bufio.NewReader(resp), nil); err == nil {
				body, _ := io.ReadAll(io.LimitReader(r.Body, 4<<10))
				r.Body.Close()
				if code := jsonString(body, "code"); code != "" {
					refusal += " " + code
				}
			}
		},
	}
	if token != "" {
		wd.Header = ws.HandshakeHeaderHTTP(http.Header{"Authorization": {"Bearer " + token}})
	}
	path, first := "/ws", fmt.Appendf(nil, `{"id":1,"op":"subscribe","channel":%q}`, channel)
	if cf {
		path, first = cfPath, []byte(cfConnect)
	}
	nc, br, _, err := wd.Dial(ctx, "ws://"+t.host+t.path+path)
	if err != nil {
		if refusal != "" {
			return nil, &refusedError{refusal}
		}
		return nil, err
	}
	c, err := newConn(nc, ctr, false)
	if err == nil {
		if cf {
			c.cf, c.channel = true, channel
		}
		_ = nc.SetWriteDeadline(deadline)
		err = c.write(ws.NewTextFrame(first))
	}
	if err == nil && br != nil {
		p, _ := br.Peek(br.Buffered())
		err = c.feed(p)
		ws.PutReader(br)
	}
	if err == nil {
		err = c.await(deadline)
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// write sends one frame, masked as a client must, in one write.
func (c *conn) write(f ws.Frame) error {
	b, err := ws.CompileFrame(ws.MaskFrameInPlace(f))
	if err != nil {
		return err
	}
	if c.fd >= 0 {
		return writeFD(c.fd, b)
	}
	_, err = c.nc.Write(b)
	return err
}

// reply writes a pong, within 5s while the connection is still in Go's
// poller; a reader loop writes to the descriptor once.
func (c *conn) reply(f ws.Frame) error {
	if c.fd < 0 {
		_ = c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	}
	return c.write(f)
}

// feedWS parses server frames: unmasked, each whole (neither Herald nor
// Centrifugo fragments).
func (c *conn) feedWS(p []byte, now int64) error {
	if len(c.carry) > 0 {
		p = append(c.carry, p...)
	}
	for {
		hdr, size, err := wsHeader(p)
		if err != nil {
			return err
		}
		if hdr == 0 || int64(len(p)-hdr) < size {
			break // the rest of the frame comes later
		}
		end := hdr + int(size)
		if err := c.frameWS(ws.OpCode(p[0]&0x0f), p[hdr:end], now); err != nil {
			return err
		}
		p = p[end:]
	}
	return c.keep(p)
}

// wsHeader returns the length of the frame header at the start of p and
// the payload size; hdr is 0 when p does not hold the whole header.
func wsHeader(p []byte) (hdr int, size int64, err error) {
	if len(p) < 2 {
		return 0, 0, nil
	}
	if p[1]&0x80 != 0 {
		return 0, 0, fmt.Errorf("%w: masked frame from the server", errProtocol)
	}
	switch l := p[1] & 0x7f; l {
	case 126:
		if len(p) < 4 {
			return 0, 0, nil
		}
		hdr, size = 4, int64(binary.BigEndian.Uint16(p[2:]))
	case 127:
		if len(p) < 10 {
			return 0, 0, nil
		}
		v := binary.BigEndian.Uint64(p[2:])
		if v > maxCarry {
			return 0, 0, errTooBig
		}
		hdr, size = 10, int64(v)
	default:
		hdr, size = 2, int64(l)
	}
	if size > maxCarry {
		return 0, 0, errTooBig
	}
	return hdr, size, nil
}

func (c *conn) frameWS(op ws.OpCode, payload []byte, now int64) error {
	switch op {
	case ws.OpText, ws.OpContinuation:
		return c.textWS(payload, now)
	case ws.OpPing:
		return c.reply(ws.NewPongFrame(bytes.Clone(payload)))
	case ws.OpClose:
		if c.end == "" {
			c.end = "close"
			if len(payload) >= 2 {
				code, reason := ws.ParseCloseFrameData(payload)
				c.end = fmt.Sprintf("close %d %s", code, reason)
			}
		}
		return errEnded
	}
	return nil
}

func (c *conn) textWS(p []byte, now int64) error {
	if c.cf {
		return c.textCF(p, now)
	}
	switch {
	case bytes.HasPrefix(p, wsMessage):
		c.message(p, now)
	case bytes.HasPrefix(p, wsWelcome):
		if c.state == stWelcome {
			c.state = stReply
		}
	case bytes.HasPrefix(p, wsReply):
		if c.state != stReady {
			if code := jsonString(p, "code"); code != "" {
				return &refusedError{"subscribe " + code}
			}
			c.state = stReady
		}
	case bytes.HasPrefix(p, wsDisconnect):
		c.end = fmt.Sprintf("disconnect %d %s", jsonInt(p, "code"), jsonString(p, "reason"))
		if c.state != stReady {
			return &refusedError{c.end}
		}
	}
	return nil
}
