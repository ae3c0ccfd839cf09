package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// target is one node, resolved once so that every connection goes to the
// same address.
type target struct {
	url  string // as given
	host string // host[:port], for the Host header
	addr string // ip:port to connect to
	ip   net.IP
	path string // the URL's path, without a trailing slash
}

var errNotTCP = errors.New("bench: not a TCP connection")

// resolve parses a base URL and resolves its host. Unless allowRemote,
// every address the host resolves to must be a loopback address.
func resolve(ctx context.Context, raw string, allowRemote bool) (*target, error) {
	s := raw
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrOptions, raw, err)
	}
	switch u.Scheme {
	case "http", "ws":
	case "https", "wss":
		return nil, fmt.Errorf("%w: %q: bench speaks plain http:// only", ErrOptions, raw)
	default:
		return nil, fmt.Errorf("%w: %q is not an http:// URL", ErrOptions, raw)
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return nil, fmt.Errorf("%w: %q has no host", ErrOptions, raw)
	}
	if port == "" {
		port = "80"
	}
	var ips []net.IP
	if ip := net.ParseIP(host); ip != nil {
		ips = []net.IP{ip}
	} else {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		addrs, err := net.DefaultResolver.LookupIPAddr(rctx, host)
		if err != nil {
			return nil, fmt.Errorf("%w: %q: %v", ErrOptions, raw, err)
		}
		for _, a := range addrs {
			ips = append(ips, a.IP)
		}
	}
	if !allowRemote {
		for _, ip := range ips {
			if !ip.IsLoopback() {
				return nil, fmt.Errorf("%w: %s resolves to %s; load only machines you own, and pass --allow-remote (Options.AllowRemote) to load this one", ErrRemote, raw, ip)
			}
		}
	}
	ip := ips[0]
	for _, c := range ips {
		if c.To4() != nil {
			ip = c
			break
		}
	}
	return &target{
		url:  raw,
		host: u.Host,
		addr: net.JoinHostPort(ip.String(), port),
		ip:   ip,
		path: strings.TrimSuffix(u.EscapedPath(), "/"),
	}, nil
}

// resolveAll resolves each URL.
func resolveAll(ctx context.Context, urls []string, allowRemote bool) ([]*target, error) {
	ts := make([]*target, 0, len(urls))
	for _, u := range urls {
		t, err := resolve(ctx, u, allowRemote)
		if err != nil {
			return nil, err
		}
		ts = append(ts, t)
	}
	return ts, nil
}

// sourceIP returns the k-th source address: 127.0.0.2, 127.0.0.3, ...
func sourceIP(k int) net.IP {
	ip := make(net.IP, 4)
	binary.BigEndian.PutUint32(ip, 0x7f000002+uint32(k))
	return ip
}

// dialers returns one dialer per source address, for targets that are
// IPv4 loopback addresses, and one plain dialer for the others.
func dialers(sources int, timeout time.Duration) (bound []*net.Dialer, plain *net.Dialer) {
	plain = &net.Dialer{Timeout: timeout}
	for k := range sources {
		bound = append(bound, &net.Dialer{
			Timeout:   timeout,
			LocalAddr: &net.TCPAddr{IP: sourceIP(k)},
			Control:   bindNoPort,
		})
	}
	return bound, plain
}

// dialerFor returns the dialer of connection i to t.
func dialerFor(t *target, i int, bound []*net.Dialer, plain *net.Dialer) *net.Dialer {
	if len(bound) == 0 || t.ip.To4() == nil || !t.ip.IsLoopback() {
		return plain
	}
	return bound[i%len(bound)]
}
