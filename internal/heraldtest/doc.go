// Package heraldtest starts real Herald nodes for tests and talks to them
// as clients do: a WebSocket client speaking Herald's protocol, an SSE
// stream reader and a long-poll helper, over real sockets. It also holds
// the small things every test package needs: polling for a condition,
// free ports, a log buffer safe for concurrent writes, and tokens.
package heraldtest
