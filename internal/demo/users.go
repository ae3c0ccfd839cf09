package demo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/heraldrt/herald/internal/auth"
	"github.com/heraldrt/herald/internal/protocol"
)

// Users are the demo's people: pane A is Alice, pane B is Bob.
var Users = []string{"alice", "bob"}

// tokenTTL is how long a demo token lives. Short, so that the pages show
// herald.js fetching fresh ones before they expire.
const tokenTTL = 5 * time.Minute

// demoRules are the gateways' channel rules: anyone may read updates,
// and each user's inbox is theirs alone.
var demoRules = []auth.RuleSpec{
	{Pattern: "updates", Subscribe: auth.Anyone},
	{Pattern: "user.{user}.>", Subscribe: auth.Owner},
}

// InboxOf is a demo user's personal channel.
func InboxOf(user string) string { return "user." + user + ".inbox" }

// newSecret makes the demo's token secret: random, for this run only.
func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// users serves what an application's backend would, on the api node:
//
//	POST /token       {"user":"alice"} -> {"token":"...","expires":...}
//	POST /demo/send   {"from":"alice","to":"bob"} publishes to bob's inbox
//	                  through the publish API
//
// Only the demo's own pages may ask (their Origin, or none, as curl sends).
func (d *Demo) users() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ownPagePOST(w, r) {
			return
		}
		var req struct {
			User string `json:"user"`
			From string `json:"from"`
			To   string `json:"to"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil {
			protocol.WriteHTTPError(w, protocol.NewError(protocol.CodeBadRequest, "send JSON"))
			return
		}
		var answer any
		var perr *protocol.Error
		if r.URL.Path == "/token" {
			answer, perr = d.token(req.User)
		} else {
			answer, perr = d.send(r.Context(), req.From, req.To)
		}
		if perr != nil {
			protocol.WriteHTTPError(w, perr)
			return
		}
		b, _ := json.Marshal(answer)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(append(b, '\n'))
	})
}

func unknownUser(user string) *protocol.Error {
	return protocol.NewError(protocol.CodeBadRequest, fmt.Sprintf("the demo's users are alice and bob, not %q", user))
}

// token mints a connection token for a demo user, as a backend would
// after its own login.
func (d *Demo) token(user string) (any, *protocol.Error) {
	if !slices.Contains(Users, user) {
		return nil, unknownUser(user)
	}
	exp := time.Now().Add(tokenTTL)
	tok, err := auth.NewHMACSigner(d.secret).Sign(auth.Claims{
		Sub: user, Expires: exp, IssuedAt: time.Now(), Info: json.RawMessage(fmt.Sprintf(`{"name":%q}`, displayName(user))),
	})
	if err != nil {
		return nil, protocol.NewError(protocol.CodeInternal, err.Error())
	}
	return map[string]any{"token": tok, "expires": exp.Unix(), "user": user}, nil
}

func displayName(user string) string { return string(user[0]-'a'+'A') + user[1:] }

// sendTimeout bounds the demo backend's call to the publish API.
const sendTimeout = 10 * time.Second

// send publishes a note from one demo user to the other's inbox through
// the api node's publish API, as an application's backend would.
func (d *Demo) send(ctx context.Context, from, to string) (any, *protocol.Error) {
	if !slices.Contains(Users, from) {
		return nil, unknownUser(from)
	}
	if !slices.Contains(Users, to) {
		return nil, unknownUser(to)
	}
	now := time.Now()
	data, _ := json.Marshal(map[string]any{
		"from": from, "text": fmt.Sprintf("a note for %s from %s", displayName(to), displayName(from)),
		"sendTime": now.Format("15:04:05.000"), "sentAtMs": now.UnixMilli(),
	})
	body, _ := json.Marshal(map[string]any{"channel": InboxOf(to), "data": json.RawMessage(data)})
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+loopbackAddr(d.API.Addr())+"/api/publish", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, protocol.NewError(protocol.CodeUnavailable, "the publish API did not answer: "+err.Error())
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if res.StatusCode != http.StatusOK {
		return nil, protocol.NewError(protocol.CodeUnavailable, fmt.Sprintf("the publish API answered %d: %s", res.StatusCode, bytes.TrimSpace(b)))
	}
	return map[string]any{"channel": InboxOf(to)}, nil
}

// loopbackAddr is addr as the demo's own backend reaches it: an
// unspecified host (0.0.0.0, ::) is reached on loopback, where the
// keyless publish API answers.
func loopbackAddr(addr string) string {
	host, port, _ := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", port)
	}
	return addr
}
