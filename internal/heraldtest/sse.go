package heraldtest

import (
	"bufio"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// SSE is an open SSE connection.
type SSE struct {
	resp    *http.Response
	events  chan SSEEvent
	Welcome SSEEvent
}

type SSEEvent struct {
	Event string
	Data  string
	ID    string
}

// OpenSSE opens an SSE stream of channels and reads its welcome.
func OpenSSE(t testing.TB, addr string, channels ...string) *SSE {
	t.Helper()
	return OpenSSEFrom(t, addr, "", channels...)
}

// OpenSSEFrom opens an SSE stream that resumes from a cursor, sent as the
// Last-Event-ID header (none when cursor is empty).
func OpenSSEFrom(t testing.TB, addr, cursor string, channels ...string) *SSE {
	t.Helper()
	var hdr http.Header
	if cursor != "" {
		hdr = http.Header{"Last-Event-ID": {cursor}}
	}
	return OpenSSEQuery(t, addr, url.Values{"channel": channels}.Encode(), hdr)
}

// OpenSSEQuery opens /sse?query with the headers hdr and reads its
// welcome; it fails the test unless the stream opens.
func OpenSSEQuery(t testing.TB, addr, query string, hdr http.Header) *SSE {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/sse?"+query, nil)
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("sse: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("sse: %d %s", resp.StatusCode, b)
	}
	s := &SSE{resp: resp, events: make(chan SSEEvent, 1024)}
	go ReadSSE(resp.Body, s.events)
	t.Cleanup(func() { resp.Body.Close() })
	ev := s.Next(t, 5*time.Second)
	if ev.Event != "welcome" {
		t.Fatalf("first SSE event is %q, not welcome", ev.Event)
	}
	s.Welcome = ev
	return s
}

// Next waits for the next event.
func (s *SSE) Next(t testing.TB, within time.Duration) SSEEvent {
	t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			t.Fatal("SSE stream ended")
		}
		return ev
	case <-time.After(within):
		t.Fatalf("no SSE event within %s", within)
	}
	return SSEEvent{}
}

// ReadSSE parses an event stream into events until it ends.
func ReadSSE(body io.Reader, events chan<- SSEEvent) {
	defer close(events)
	sc := bufio.NewScanner(body)
	var ev SSEEvent
	var data []string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.Event != "" || data != nil {
				ev.Data = strings.Join(data, "\n")
				events <- ev
			}
			ev, data = SSEEvent{}, nil
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event: "):
			ev.Event = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			data = append(data, line[len("data: "):])
		case strings.HasPrefix(line, "id: "):
			ev.ID = line[len("id: "):]
		}
	}
}

// Close ends the stream from the client's side.
func (s *SSE) Close() { s.resp.Body.Close() }
