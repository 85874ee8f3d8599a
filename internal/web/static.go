package web

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed static
var staticFS embed.FS

// handleStatic serves the embedded CSS, script and icons. Their URLs carry
// the version (?v=), so browsers may keep them for a day.
func (c *Console) handleStatic(w http.ResponseWriter, r *http.Request) error {
	name := strings.TrimPrefix(r.URL.Path, "/")
	if f, err := fs.Stat(staticFS, name); err != nil || f.IsDir() {
		return notFound()
	}
	w.Header().Set("Cache-Control", "public, max-age=86400")
	http.ServeFileFS(w, r, staticFS, name)
	return nil
}

func (c *Console) handleFavicon(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "public, max-age=86400")
	w.Header().Set("Content-Type", "image/svg+xml")
	b, err := staticFS.ReadFile("static/logo.svg")
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
