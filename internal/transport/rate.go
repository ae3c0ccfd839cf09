package transport

import (
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/time/rate"

	"github.com/heraldrt/herald/internal/protocol"
)

// rateStrikes is how many commands in a row a connection may have refused
// for its rate before it is closed (3009): a client that goes on sending
// after being told is not going to stop.
const rateStrikes = 100

// connLimits are the parts of a WebSocket connection's limits that it
// gets only when it needs them.
type connLimits struct {
	addr     netip.Addr    // the client's address, when the per-address limit is on
	commands *rate.Limiter // nil: no command limit, or not needed yet
	publish  *rate.Limiter // nil: no publish limit, or not needed yet
	buckets  bool          // commands and publish are made
	strikes  int           // refusals in a row
}

// burstUse counts a connection's commands and publishes until it has
// buckets: a bucket starts full, so the first burst of each is allowed
// whenever it comes, and a connection that stays within it (most: they
// subscribe and listen) never needs one.
type burstUse struct {
	commands, publishes uint16
}

// limiter returns a token bucket of r per second and burst b, with used
// tokens already taken; nil for no limit.
func limiter(r, b, used int) *rate.Limiter {
	if r <= 0 {
		return nil
	}
	l := rate.NewLimiter(rate.Limit(r), b)
	l.AllowN(time.Now(), used)
	return l
}

// throttle takes a token for a command with op, and one more for a
// publish. It returns the rate_limited error of a refused command, and
// closes a connection refused rateStrikes times in a row. The reader
// calls it, one command at a time.
func (c *wsConn) throttle(op string) *protocol.Error {
	cfg := c.s.cfg
	publish := op == protocol.OpPublish
	if c.limits == nil || !c.limits.buckets {
		u := &c.used
		if int(u.commands) < cfg.ClientCommandBurst && (!publish || int(u.publishes) < cfg.ClientPublishBurst) {
			u.commands++
			if publish {
				u.publishes++
			}
			return nil
		}
		if c.limits == nil {
			c.limits = &connLimits{}
		}
		l := c.limits
		l.commands = limiter(cfg.ClientCommandRate, cfg.ClientCommandBurst, int(u.commands))
		l.publish = limiter(cfg.ClientPublishRate, cfg.ClientPublishBurst, int(u.publishes))
		l.buckets = true
	}
	l := c.limits
	var perr *protocol.Error
	switch {
	case l.commands != nil && !l.commands.Allow():
		c.s.Metrics.Refused("client-command-rate")
		perr = protocol.NewError(protocol.CodeRateLimited, fmt.Sprintf("more than %d commands per second (see --client-command-rate); slow down", cfg.ClientCommandRate))
	case publish && l.publish != nil && !l.publish.Allow():
		c.s.Metrics.Refused("client-publish-rate")
		perr = protocol.NewError(protocol.CodeRateLimited, fmt.Sprintf("more than %d publishes per second (see --client-publish-rate); slow down", cfg.ClientPublishRate))
	default:
		l.strikes = 0
		return nil
	}
	if l.strikes++; l.strikes >= rateStrikes {
		c.disconnect(protocol.DisconnectRateLimited)
	}
	return perr
}
