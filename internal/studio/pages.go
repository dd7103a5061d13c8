package studio

import (
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
)

// Versions of the vendored libraries (assets/vendor/README.md).
const (
	DagreVersion   = "3.1.3"
	ChartJSVersion = "4.6.1"
)

// assets are our scripts and styles and the vendored libraries' built files.
//
//go:embed assets/app.js assets/app.css assets/vendor/dagre/dagre.esm.js assets/vendor/chartjs/chart.umd.min.js
var assets embed.FS

func (st *Studio) routes() {
	m := st.mux
	sub, _ := fs.Sub(assets, "assets")
	files := http.StripPrefix("/ui/assets/", http.FileServerFS(sub))
	m.Handle("GET /ui/assets/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Embedded files change only with the binary, whose version is in every page's URLs.
		w.Header().Set("Cache-Control", "private, max-age=3600")
		files.ServeHTTP(w, r)
	}))

	page := func(kind, title string, args ...string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			d := pageData{Page: kind, Title: title, Version: st.opts.Version, Args: map[string]string{}}
			for _, a := range args {
				d.Args[a] = r.PathValue(a)
				d.Title += " " + r.PathValue(a)
			}
			if key, err := st.secret(); err == nil {
				d.CSRF = mac(key, "csrf")
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			shell.Execute(w, d)
		}
	}
	m.HandleFunc("GET /ui/{$}", page("overview", "Overview"))
	m.HandleFunc("GET /ui/runs", page("runs", "Runs"))
	m.HandleFunc("GET /ui/runs/{id}", page("run", "Run", "id"))
	m.HandleFunc("GET /ui/datasets", page("datasets", "Datasets"))
	m.HandleFunc("GET /ui/datasets/{name}", page("dataset-compare", "Dataset", "name"))
	m.HandleFunc("GET /ui/datasets/{name}/{version}", page("dataset", "Dataset", "name", "version"))
	m.HandleFunc("GET /ui/models", page("models", "Models"))
	m.HandleFunc("GET /ui/models/{name}/{version}", page("model", "Model", "name", "version"))
	m.HandleFunc("GET /ui/endpoints", page("endpoints", "Endpoints"))
	m.HandleFunc("GET /ui/endpoints/{name}", page("endpoint", "Endpoint", "name"))
	m.HandleFunc("GET /ui/pipelines", page("pipelines", "Pipelines"))
	m.HandleFunc("GET /ui/pipelines/{name}", page("pipeline", "Pipeline", "name"))

	m.HandleFunc("GET /ui/api/overview", st.apiOverview)
	m.HandleFunc("GET /ui/api/runs", st.apiRuns)
	m.HandleFunc("GET /ui/api/runs/{id}", st.apiRun)
	m.HandleFunc("GET /ui/api/runs/{id}/events", st.apiRunEvents)
	m.HandleFunc("GET /ui/api/runs/{id}/steps/{step}/log", st.apiStepLog)
	m.HandleFunc("GET /ui/api/runs/{id}/steps/{step}/histogram.svg", st.apiBenchHistogram)
	m.HandleFunc("GET /ui/api/datasets", apiDatasets(st))
	m.HandleFunc("GET /ui/api/datasets/{name}", st.apiDatasetCompare)
	m.HandleFunc("GET /ui/api/datasets/{name}/{version}", st.apiDataset)
	m.HandleFunc("GET /ui/api/models", st.apiModels)
	m.HandleFunc("GET /ui/api/models/{name}/{version}", st.apiModel)
	m.HandleFunc("GET /ui/api/endpoints", apiEndpoints(st))
	m.HandleFunc("GET /ui/api/endpoints/{name}", st.apiEndpoint)
	m.HandleFunc("POST /ui/api/endpoints/{name}/key", st.apiEndpointKey)
	m.HandleFunc("POST /ui/api/endpoints/{name}/score", st.apiEndpointScore)
	m.HandleFunc("POST /ui/api/endpoints/{name}/stop", st.apiEndpointStop)
	m.HandleFunc("POST /ui/api/endpoints/{name}/regenerate", st.apiEndpointRegenerate)
	m.HandleFunc("GET /ui/api/pipelines", apiPipelines(st))
	m.HandleFunc("GET /ui/api/pipelines/{name}", st.apiPipeline)
	m.HandleFunc("POST /ui/api/pipelines/{name}/runs", st.apiPipelineTrigger)
	m.HandleFunc("POST /ui/api/pipelines/{name}/enable", st.apiPipelineSwitch(false))
	m.HandleFunc("POST /ui/api/pipelines/{name}/disable", st.apiPipelineSwitch(true))
	m.HandleFunc("/ui/api/", func(w http.ResponseWriter, r *http.Request) {
		jsonError(w, 404, "no API route %s %s", r.Method, strings.ToValidUTF8(r.URL.Path, "?"))
	})
	m.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(404)
		notFound.Execute(w, r.URL.Path)
	})
}

type pageData struct {
	Page, Title, Version, CSRF string
	Args                       map[string]string
}

// shell is every page: the script fills #content from the API. Everything from the
// request (names, ids) goes through html/template's escaping, and the script writes data
// with textContent only.
var shell = template.Must(template.New("shell").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="{{.CSRF}}">
<title>{{.Title}} · mlflow studio</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/ui/assets/app.css?v={{.Version}}">
<script src="/ui/assets/vendor/chartjs/chart.umd.min.js?v={{.Version}}"></script>
<script type="module" src="/ui/assets/app.js?v={{.Version}}"></script>
</head>
<body data-page="{{.Page}}"{{range $k, $v := .Args}} data-{{$k}}="{{$v}}"{{end}}>
<nav>
<a class="brand" href="/ui/">mlflow studio</a>
<a href="/ui/runs">Runs</a>
<a href="/ui/datasets">Datasets</a>
<a href="/ui/models">Models</a>
<a href="/ui/endpoints">Endpoints</a>
<a href="/ui/pipelines">Pipelines</a>
<span class="version">{{.Version}}</span>
</nav>
<main>
<h1 id="title">{{.Title}}</h1>
<div id="content"><p class="muted">Loading…</p></div>
</main>
</body>
</html>
`))

var loginPage = template.Must(template.New("login").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>mlflow studio: log in</title><link rel="icon" href="data:,"></head>
<body style="font-family:sans-serif;margin:3em">
<h1>mlflow studio</h1>
<p id="unauthorized">{{.}}.</p>
<p>Run <code>mlflow ui</code> in the workspace and open the address it prints.</p>
</body></html>
`))

var notFound = template.Must(template.New("404").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Not found · mlflow studio</title><link rel="icon" href="data:,"></head>
<body style="font-family:sans-serif;margin:3em"><h1>Not found</h1><p>There is no page at {{.}}. <a href="/ui/">Overview</a></p></body></html>
`))
