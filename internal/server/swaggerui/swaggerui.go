// Package swaggerui serves a pinned Swagger UI (swagger-ui-dist, embedded in
// the binary) for an endpoint's /docs page. Nothing is fetched from the
// internet: the page and its assets come from dist/.
package swaggerui

import (
	"embed"
	"fmt"
	"net/http"
	"path"
	"strings"
)

// Version is the embedded swagger-ui-dist release (see dist/README.md).
const Version = "5.35.0"

//go:embed dist/swagger-ui-bundle.js dist/swagger-ui.css dist/favicon-32x32.png
var dist embed.FS

// Views are the specs the page can show, first the default: Azure's
// swagger.json as Azure publishes it, the whole OpenAPI document, and the
// per-protocol views of it. URLs are relative to the page.
var Views = []struct{ Name, URL, Label string }{
	{"azure", "swagger.json", "Azure ML: /score (Swagger 2.0, as Azure publishes it)"},
	{"all", "openapi.json", "All protocols (OpenAPI 3.1)"},
	{"mlflow", "openapi.json?protocol=mlflow", "MLflow scoring server: /invocations"},
	{"oip", "openapi.json?protocol=oip", "Open Inference Protocol: /v2"},
}

// page loads the assets and the specs by relative URLs, so the same bytes
// work at /docs and under a mount such as /endpoints/NAME/docs. The specs
// sit beside the page; the assets live one level below it. The view
// selector is ours: Swagger UI's own (its urls option) needs the
// standalone preset, a second bundle, for one drop-down. The view is kept
// in the query (?view=mlflow), so it can be linked and survives a reload.
const page = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<title>TITLE - Swagger UI</title>
<link rel="stylesheet" type="text/css" href="docs/swagger-ui.css">
<link rel="icon" type="image/png" href="docs/favicon-32x32.png" sizes="32x32">
<style>
#views { font-family: sans-serif; background: #1b1b1b; color: #fff; padding: 10px 20px; }
#views label { margin-right: 8px; font-weight: bold; }
#views select { font-size: 14px; padding: 4px; min-width: 380px; }
</style>
</head>
<body>
<div id="views"><label for="view">View</label><select id="view">OPTIONS</select></div>
<div id="swagger-ui"></div>
<script src="docs/swagger-ui-bundle.js" charset="UTF-8"></script>
<script>
window.onload = function() {
  var select = document.getElementById("view");
  var params = new URLSearchParams(window.location.search);
  var chosen = Array.prototype.find.call(select.options, function(o) { return o.dataset.name === params.get("view"); });
  if (chosen) {
    select.value = chosen.value;
  }
  window.ui = SwaggerUIBundle({
    url: select.value,
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    persistAuthorization: false
  });
  select.onchange = function() {
    var o = select.options[select.selectedIndex];
    params.set("view", o.dataset.name);
    history.replaceState(null, "", "?" + params.toString());
    window.ui.specActions.updateUrl(select.value);
    window.ui.specActions.download(select.value);
  };
};
</script>
</body>
</html>
`

// Page returns the HTML of the /docs page titled title.
func Page(title string) []byte { return PageViews(title, Views) }

// PageViews is Page with other views (the published pipelines' page has one).
func PageViews(title string, views []struct{ Name, URL, Label string }) []byte {
	var opts strings.Builder
	for _, v := range views {
		fmt.Fprintf(&opts, `<option value="%s" data-name="%s">%s</option>`, htmlEscape(v.URL), htmlEscape(v.Name), htmlEscape(v.Label))
	}
	r := strings.NewReplacer("TITLE", htmlEscape(title), "OPTIONS", opts.String())
	return []byte(r.Replace(page))
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
