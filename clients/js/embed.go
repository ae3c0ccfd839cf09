// Package heraldjs holds herald.js, Herald's browser client, and its
// TypeScript declarations, so that every node can serve them.
package heraldjs

import _ "embed"

// Script is herald.js, an ES module.
//
//go:embed herald.js
var Script []byte

// Types is herald.d.ts.
//
//go:embed herald.d.ts
var Types []byte
