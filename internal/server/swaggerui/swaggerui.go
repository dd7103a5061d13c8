// Package swaggerui serves a pinned Swagger UI (swagger-ui-dist, embedded in
// the binary) for an endpoint's /docs page. Nothing is fetched from the
// internet: the page and its assets come from dist/.
package swaggerui

import (
	"embed"
	"net/http"
	"path"
	"strings"
)

// Version is the embedded swagger-ui-dist release (see dist/README.md).
const Version = "5.35.0"

//go:embed dist/swagger-ui-bundle.js dist/swagger-ui.css dist/favicon-32x32.png
var dist embed.FS

// page loads the assets and the spec by relative URLs, so the same bytes
// work at /docs and under a mount such as /endpoints/NAME/docs. The spec
// sits beside the page; the assets live one level below it.
const page = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<title>TITLE - Swagger UI</title>
<link rel="stylesheet" type="text/css" href="docs/swagger-ui.css">
<link rel="icon" type="image/png" href="docs/favicon-32x32.png" sizes="32x32">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs/swagger-ui-bundle.js" charset="UTF-8"></script>
<script>
window.onload = function() {
  window.ui = SwaggerUIBundle({
    url: "swagger.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    persistAuthorization: false
  });
};
</script>
</body>
</html>
`

// Page returns the HTML of the /docs page titled title.
func Page(title string) []byte {
	return []byte(strings.Replace(page, "TITLE", htmlEscape(title), 1))
}

func htmlEscape(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;")
	return r.Replace(s)
}

// Asset serves one embedded file by its base name (swagger-ui.css, ...).
// Unknown names are 404.
func Asset(w http.ResponseWriter, r *http.Request, name string) {
	name = path.Base(name)
	b, err := dist.ReadFile("dist/" + name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	switch path.Ext(name) {
	case ".js":
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	case ".css":
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
	case ".png":
		w.Header().Set("Content-Type", "image/png")
	}
	// The files are pinned by version, so clients may keep them.
	w.Header().Set("Cache-Control", "public, max-age=86400")
	w.Write(b)
}
