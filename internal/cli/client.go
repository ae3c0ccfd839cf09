package cli

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/heraldrt/herald/internal/protocol"
)

// Environment variables the client commands fall back on.
const (
	envURL    = "HERALD_URL"
	envAPIKey = "HERALD_API_KEY"
	envToken  = "HERALD_TOKEN" // a client token, for sub and publish --token
)

const defaultURL = "http://localhost:8080"

// addURLFlag defines --url on cmd, storing it in p.
func addURLFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "url", defaultURL, "base `URL` of the Herald node (env "+envURL+")")
}

// fromEnv returns the value of flag name on cmd, or the environment variable
// env when the flag was not set and env is not empty.
func fromEnv(cmd *cobra.Command, name, val, env string) string {
	if cmd.Flags().Changed(name) {
		return val
	}
	if v := os.Getenv(env); v != "" {
		return v
	}
	return val
}

// endpoint returns base with path appended to its path, with its scheme
// mapped by schemes (from http and https to the scheme wanted).
func endpoint(base, path string, schemes map[string]string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", usagef("--url: %v", err)
	}
	scheme, ok := schemes[u.Scheme]
	if !ok || u.Host == "" {
		return "", usagef("--url: %q is not an http:// or https:// URL", base)
	}
	u.Scheme = scheme
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawPath, u.RawQuery, u.Fragment = "", "", ""
	return u.String(), nil
}

// parseAPIError returns the error in an HTTP error body, shaped
// {"error":{"code":"...","message":"..."}}, or nil.
func parseAPIError(body []byte) *protocol.Error {
	var v struct {
		Error *protocol.Error `json:"error"`
	}
	if json.Unmarshal(body, &v) != nil || v.Error == nil || v.Error.Code == "" {
		return nil
	}
	return v.Error
}

// httpError describes a failed HTTP response from its status and body.
func httpError(status int, body []byte) error {
	if e := parseAPIError(body); e != nil {
		return fmt.Errorf("%w (HTTP %d)", e, status)
	}
	text := strings.TrimSpace(string(body))
	if len(text) > 200 {
		text = text[:200] + "..."
	}
	if text == "" {
		return fmt.Errorf("HTTP %d", status)
	}
	return fmt.Errorf("HTTP %d: %s", status, text)
}
