package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

// files holds the pages (ui/*.html) and their assets (ui/static/).
//
//go:embed ui
var files embed.FS

// contentTypes maps the extensions of embedded files to their Content-Type.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
	".json": "application/json",
}

// asset is one response body, ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

func newAsset(body []byte, contentType string) asset {
	sum := sha256.Sum256(body)
	return asset{body: body, contentType: contentType, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:15]) + `"`}
}

// serve writes a, or 304 Not Modified when the request's If-None-Match
// names its ETag.
func (a asset) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", a.contentType)
	w.Header().Set("ETag", a.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

// embedded returns the embedded pages and assets, read once.
var embedded = sync.OnceValues(loadAssets)

// loadAssets reads the embedded pages, by file name, and static assets, by
// path under ui/static/.
func loadAssets() (pages, static map[string]asset) {
	pages, static = map[string]asset{}, map[string]asset{}
	err := fs.WalkDir(files, "ui", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := files.ReadFile(name)
		if err != nil {
			return err
		}
		ct, ok := contentTypes[path.Ext(name)]
		if !ok {
			ct = "application/octet-stream"
		}
		if rest, ok := strings.CutPrefix(name, "ui/static/"); ok {
			static[rest] = newAsset(body, ct)
		} else if path.Dir(name) == "ui" {
			pages[path.Base(name)] = newAsset(body, ct)
		}
		return nil
	})
	if err != nil {
		panic("web: reading embedded files: " + err.Error()) // embedded at build time
	}
	return pages, static
}
