package bench

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strconv"
)

// SSE events a bench client tells apart.
const (
	evNone = iota
	evMessage
	evWelcome
	evDisconnect
	evOther
)

// Positions in the chunked transfer encoding.
const (
	csSize = iota // reading the chunk size's hex digits
	csExt         // skipping the rest of the size line
	csData        // in the chunk's data
	csCRLF        // skipping the line end after the data
)

// dialSSE opens an event stream from t through d for channel, with a
// hand-written HTTP/1.1 request, and waits for the welcome event (which
// the server sends once the subscription is made).
func dialSSE(ctx context.Context, t *target, d *net.Dialer, channel, token string, ctr *counters) (*conn, error) {
	deadline, _ := ctx.Deadline()
	nc, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, err
	}
	c, err := newConn(nc, ctr, true)
	if err == nil {
		_ = nc.SetWriteDeadline(deadline)
		auth := ""
		if token != "" {
			auth = "Authorization: Bearer " + token + "\r\n"
		}
		_, err = fmt.Fprintf(nc, "GET %s/sse?channel=%s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\nUser-Agent: herald-bench\r\n%s\r\n",
			t.path, channel, t.host, auth)
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

// feedSSE parses the response head, then the (chunked) event stream.
func (c *conn) feedSSE(p []byte, now int64) error {
	if c.state == stHead {
		head := append(c.carry, p...)
		i := bytes.Index(head, []byte("\r\n\r\n"))
		if i < 0 {
			if len(head) > 16<<10 {
				return errTooBig
			}
			c.carry = head
			return nil
		}
		c.carry = nil
		if err := c.head(head[:i], head[i+4:]); err != nil {
			return err
		}
		c.state = stWelcome
		p = head[i+4:]
	}
	if c.chunked {
		return c.dechunk(p, now)
	}
	return c.lines(p, now)
}

// head checks the response head: status 200, and whether the body is
// chunked. A refusal's reason includes the error code in the body.
func (c *conn) head(h, body []byte) error {
	status, _, _ := bytes.Cut(h, []byte("\r\n"))
	f := bytes.Fields(status)
	if len(f) < 2 || !bytes.HasPrefix(f[0], []byte("HTTP/1.")) {
		return fmt.Errorf("%w: bad status line %.60q", errProtocol, status)
	}
	code, err := strconv.Atoi(string(f[1]))
	if err != nil {
		return fmt.Errorf("%w: bad status line %.60q", errProtocol, status)
	}
	if code != 200 {
		r := "http " + strconv.Itoa(code)
		if ec := jsonString(body, "code"); ec != "" {
			r += " " + ec
		}
		return &refusedError{r}
	}
	for _, line := range bytes.Split(h, []byte("\r\n"))[1:] {
		name, val, ok := bytes.Cut(line, []byte(":"))
		if ok && bytes.EqualFold(bytes.TrimSpace(name), []byte("Transfer-Encoding")) &&
			bytes.Contains(bytes.ToLower(val), []byte("chunked")) {
			c.chunked = true
		}
	}
	return nil
}

// dechunk decodes the chunked encoding as it streams in.
func (c *conn) dechunk(p []byte, now int64) error {
	for len(p) > 0 {
		switch c.cstate {
		case csSize:
			b := p[0]
			p = p[1:]
			switch {
			case b >= '0' && b <= '9':
				c.csize = c.csize<<4 | int64(b-'0')
			case b >= 'a' && b <= 'f':
				c.csize = c.csize<<4 | int64(b-'a'+10)
			case b >= 'A' && b <= 'F':
				c.csize = c.csize<<4 | int64(b-'A'+10)
			case b == '\n':
				if err := c.chunkStart(); err != nil {
					return err
				}
			default:
				c.cstate = csExt
			}
			if c.csize > maxCarry {
				return errTooBig
			}
		case csExt:
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				return nil
			}
			p = p[i+1:]
			if err := c.chunkStart(); err != nil {
				return err
			}
		case csData:
			n := min(int64(len(p)), c.csize)
			if err := c.lines(p[:n], now); err != nil {
				return err
			}
			p, c.csize = p[n:], c.csize-n
			if c.csize == 0 {
				c.cstate = csCRLF
			}
		case csCRLF:
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				return nil
			}
			p, c.cstate = p[i+1:], csSize
		}
	}
	return nil
}

// chunkStart begins a chunk whose size line has been read.
func (c *conn) chunkStart() error {
	if c.csize == 0 {
		return errEnded // the last chunk: the stream is over
	}
	c.cstate = csData
	return nil
}

// lines splits the event stream into lines, keeping a partial line for
// the next read.
func (c *conn) lines(p []byte, now int64) error {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			if len(c.carry)+len(p) > maxCarry {
				return errTooBig
			}
			c.carry = append(c.carry, p...)
			return nil
		}
		line := p[:i]
		if len(c.carry) > 0 {
			line = append(c.carry, line...)
			c.carry = nil
		}
		if err := c.line(bytes.TrimSuffix(line, []byte("\r")), now); err != nil {
			return err
		}
		p = p[i+1:]
	}
	return nil
}

func (c *conn) line(l []byte, now int64) error {
	switch {
	case len(l) == 0:
		c.event = evNone
	case bytes.HasPrefix(l, []byte("event:")):
		switch string(bytes.TrimSpace(l[len("event:"):])) {
		case "message":
			c.event = evMessage
		case "welcome":
			c.event = evWelcome
		case "disconnect":
			c.event = evDisconnect
		default:
			c.event = evOther
		}
	case bytes.HasPrefix(l, []byte("data:")):
		d := l[len("data:"):]
		switch c.event {
		case evMessage:
			c.message(d, now)
		case evWelcome:
			if c.state == stWelcome {
				c.state = stReady
			}
		case evDisconnect:
			c.end = fmt.Sprintf("disconnect %d %s", jsonInt(d, "code"), jsonString(d, "reason"))
			if c.state != stReady {
				return &refusedError{c.end}
			}
		}
	}
	return nil
}
