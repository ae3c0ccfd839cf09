// Package web serves Herald's browser pages: the cluster dashboard at /,
// the two-client demo at /demo, the browser client herald.js, and the
// pages' configuration at /ui/config.json.
//
// Everything is embedded in the binary and served from memory; the pages
// load nothing from other hosts except the Herald gateways they connect to,
// and their Content-Security-Policy allows nothing else. There is no build
// step: the pages are plain HTML, CSS and JavaScript modules.
package web
