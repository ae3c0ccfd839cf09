package heraldtest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
)

// PollResponse is a long-poll answer.
type PollResponse struct {
	Messages []struct {
		Channel   string          `json:"channel"`
		Data      json.RawMessage `json:"data"`
		Epoch     string          `json:"epoch"`
		Offset    uint64          `json:"offset"`
		Recovered *bool           `json:"recovered"`
		Reason    string          `json:"reason"`
		Op        string          `json:"op"` // notices: "unsubscribed"
	} `json:"messages"`
	Session    string `json:"session"`
	Cursor     string `json:"cursor"`
	Disconnect *struct {
		Code      int  `json:"code"`
		Reconnect bool `json:"reconnect"`
	} `json:"disconnect"`
	Error *struct {
		Code   string `json:"code"`
		Reason string `json:"reason"`
	} `json:"error"`
}

// Poll sends GET /poll?query and returns the status, the decoded body and
// its bytes.
func Poll(t testing.TB, addr, query string) (int, PollResponse, []byte) {
	t.Helper()
	return PollWith(t, addr, query, nil)
}

// PollWith sends a poll with extra headers (such as Origin) and returns
// the status and body.
func PollWith(t testing.TB, addr, query string, hdr http.Header) (int, PollResponse, []byte) {
	t.Helper()
	status, b := GetWith(t, "http://"+addr+"/poll?"+query, hdr)
	var pr PollResponse
	if err := json.Unmarshal(b, &pr); err != nil {
		t.Fatalf("poll body %q: %v", b, err)
	}
	return status, pr, b
}

// EnvelopeData extracts the raw "data" bytes of {"channel":..,"data":..}
// as the server wrote them, without re-encoding.
func EnvelopeData(t testing.TB, b []byte) []byte {
	t.Helper()
	i := bytes.Index(b, []byte(`"data":`))
	if i < 0 || b[len(b)-1] != '}' {
		t.Fatalf("no data in %q", b)
	}
	return b[i+len(`"data":`) : len(b)-1]
}
