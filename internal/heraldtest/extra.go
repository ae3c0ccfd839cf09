package heraldtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldrt/herald/internal/auth"
	"github.com/heraldrt/herald/internal/config"
	"github.com/heraldrt/herald/internal/node"
)

// Pair starts two nodes that share the first one's embedded NATS server,
// each from Config with tune applied (nil: none), and waits until both
// are ready.
func Pair(t testing.TB, tune func(*config.Config)) (*node.Node, *node.Node) {
	t.Helper()
	c1 := Config("n1")
	c1.NATSListen = "127.0.0.1:0"
	if tune != nil {
		tune(&c1)
	}
	n1 := StartNode(t, c1)
	c2 := Config("n2")
	if tune != nil {
		tune(&c2)
	}
	c2.NATSURL = n1.Bus().Server().ClientURL()
	c2.NATSListen, c2.ClusterListen, c2.DataDir = "", "", c1.DataDir
	return n1, StartNode(t, c2)
}

// LogBuffer collects what a logger writes from several goroutines, and
// lets a test wait for a line.
type LogBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

// NewLogBuffer returns an empty buffer.
func NewLogBuffer() *LogBuffer { return &LogBuffer{changed: make(chan struct{}, 1)} }

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.changed != nil {
		select {
		case l.changed <- struct{}{}:
		default:
		}
	}
	return l.buf.Write(p)
}

func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// WaitFor waits until the buffer holds s.
func (l *LogBuffer) WaitFor(t testing.TB, s string, within time.Duration) {
	t.Helper()
	if l.changed == nil {
		Eventually(t, within, fmt.Sprintf("%q in the output", s), func() bool { return strings.Contains(l.String(), s) })
		return
	}
	timeout := time.After(within)
	for !strings.Contains(l.String(), s) {
		select {
		case <-l.changed:
		case <-timeout:
			t.Fatalf("timed out waiting for %q in output %q", s, l.String())
		}
	}
}

// Secret is an HMAC secret long enough for --token-secret.
const Secret = "heraldtest-secret-of-32-bytes-or-more"

// Token signs claims with Secret (HS256); a zero Expires means an hour
// from now.
func Token(t testing.TB, c auth.Claims) string {
	t.Helper()
	return TokenWith(t, auth.NewHMACSigner(Secret), c)
}

// TokenWith signs claims with s; a zero Expires means an hour from now.
func TokenWith(t testing.TB, s *auth.Signer, c auth.Claims) string {
	t.Helper()
	if c.Expires.IsZero() {
		c.Expires = time.Now().Add(time.Hour)
	}
	tok, err := s.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// HTTPError is an HTTP error answer as a test sees it.
type HTTPError struct {
	Status int
	Code   string
	Reason string
	Body   string
}

// Refusal sends a GET that the test expects to be refused, and returns
// the status and the error body's code and reason.
func Refusal(t testing.TB, url string, hdr http.Header) HTTPError {
	t.Helper()
	status, b := GetWith(t, url, hdr)
	var body struct {
		Error struct {
			Code   string `json:"code"`
			Reason string `json:"reason"`
		} `json:"error"`
	}
	_ = json.Unmarshal(b, &body)
	return HTTPError{Status: status, Code: body.Error.Code, Reason: body.Error.Reason, Body: string(b)}
}

// GetWith sends a GET with the headers hdr and returns the status and the
// body (its first 1 MiB).
func GetWith(t testing.TB, url string, hdr http.Header) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b
}
