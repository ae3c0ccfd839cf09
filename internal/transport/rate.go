package transport

import (
	"fmt"

	"golang.org/x/time/rate"

	"github.com/heraldrt/herald/internal/protocol"
)

// rateStrikes is how many commands in a row a connection may have refused
// for its rate before it is closed (3009): a client that goes on sending
// after being told is not going to stop.
const rateStrikes = 100

// commandRates are a WebSocket connection's token buckets: one for all its
// commands, one more for its publishes. A connection gets them with its
// first command, so that one that only listens pays nothing for them.
type commandRates struct {
	commands *rate.Limiter // nil: no limit
	publish  *rate.Limiter // nil: no limit
	strikes  int           // refusals in a row
}

// limiter returns a token bucket of r per second and burst b, or nil for
// no limit.
func limiter(r, b int) *rate.Limiter {
	if r <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(r), b)
}

// throttle takes a token for a command with op, and one more for a
// publish. It returns the rate_limited error of a refused command, and
// closes a connection refused rateStrikes times in a row. The reader
// calls it, one command at a time.
func (c *wsConn) throttle(op string) *protocol.Error {
	cfg := c.s.cfg
	if c.rates == nil {
		c.rates = &commandRates{
			commands: limiter(cfg.ClientCommandRate, cfg.ClientCommandBurst),
			publish:  limiter(cfg.ClientPublishRate, cfg.ClientPublishBurst),
		}
	}
	r := c.rates
	var perr *protocol.Error
	switch {
	case r.commands != nil && !r.commands.Allow():
		c.s.Metrics.Refused("client-command-rate")
		perr = protocol.NewError(protocol.CodeRateLimited, fmt.Sprintf("more than %d commands per second (see --client-command-rate); slow down", cfg.ClientCommandRate))
	case op == protocol.OpPublish && r.publish != nil && !r.publish.Allow():
		c.s.Metrics.Refused("client-publish-rate")
		perr = protocol.NewError(protocol.CodeRateLimited, fmt.Sprintf("more than %d publishes per second (see --client-publish-rate); slow down", cfg.ClientPublishRate))
	default:
		r.strikes = 0
		return nil
	}
	if r.strikes++; r.strikes >= rateStrikes {
		c.disconnect(protocol.DisconnectRateLimited)
	}
	return perr
}
