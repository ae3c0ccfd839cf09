package bench

import "context"

// Connect opens o.Conns connections, each subscribed to one of o.Channels
// channels, holds them for o.Hold, closes them, and reports the handshake
// rate and latency and the failures by reason.
func Connect(ctx context.Context, o Options) (*Report, error) {
	r, o, err := newRun(ctx, o, modeConnect)
	if err != nil {
		return nil, err
	}
	defer r.stop()
	cpu0, _ := cpuOf(o.PIDs)
	ramp, err := r.ramp(ctx)
	if err != nil {
		return nil, err
	}
	cpu1, _ := cpuOf(o.PIDs)
	if err := r.hold(ctx, o.Hold, ramp.Connected); err != nil {
		return nil, err
	}
	final, err := r.close()
	if err != nil {
		return nil, err
	}
	rep := r.report(modeConnect, ramp, final)
	if rep.Ramp != nil && rep.Ramp.Connected > 0 && len(o.PIDs) > 0 {
		var spent float64
		for i := range cpu1 {
			spent += cpu1[i] - cpu0[i]
		}
		rep.Ramp.ServerCPUPerConn = 1e6 * spent / float64(rep.Ramp.Connected)
	}
	return r.finish(rep, r.cpu()), nil
}
