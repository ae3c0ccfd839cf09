package bench

import "context"

// Connect opens o.Conns connections, each subscribed to one of o.Channels
// channels, holds them for o.Hold, closes them, and reports the handshake
// rate and latency and the failures by reason.
func Connect(ctx context.Context, o Options) (*Report, error) {
	o, err := o.withDefaults(modeConnect)
	if err != nil {
		return nil, err
	}
	r, err := newRun(ctx, o)
	if err != nil {
		return nil, err
	}
	defer r.stop()
	ramp, err := r.ramp(ctx)
	if err != nil {
		return nil, err
	}
	if err := r.hold(ctx, o.Hold, ramp.Connected); err != nil {
		return nil, err
	}
	final, err := r.close()
	if err != nil {
		return nil, err
	}
	return r.finish(r.report(modeConnect, ramp, final), r.cpu()), nil
}
