package serve_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/mlflow-go/mlflow/internal/server/serve"
	"github.com/mlflow-go/mlflow/internal/server/swaggerui"
)

// TestDocsUnderMount: behind the workspace server's /endpoints/NAME mount,
// /docs/ redirects to the endpoint's own /docs (with its query), and every
// view the page offers is served beside it.
func TestDocsUnderMount(t *testing.T) {
	const prefix = "/endpoints/bankmarketing"
	h := newHandler(t, serve.Options{Endpoint: "bankmarketing", Prefix: prefix})
	mount := http.NewServeMux()
	mount.Handle(prefix+"/", http.StripPrefix(prefix, h))
	for _, c := range []struct{ target, want string }{
		{prefix + "/docs/", prefix + "/docs"},
		{prefix + "/docs/?view=oip", prefix + "/docs?view=oip"},
	} {
		req := httptest.NewRequest("GET", "http://127.0.0.1:8080"+c.target, nil)
		w := httptest.NewRecorder()
		mount.ServeHTTP(w, req)
		loc, err := req.URL.Parse(w.Header().Get("Location"))
		if w.Code != http.StatusMovedPermanently || err != nil || loc.RequestURI() != c.want {
			t.Errorf("GET %s: %d Location %q (%v), want a redirect to %s", c.target, w.Code, w.Header().Get("Location"), loc, c.want)
		}
	}
	page := httptest.NewRecorder()
	mount.ServeHTTP(page, httptest.NewRequest("GET", prefix+"/docs", nil))
	base, _ := url.Parse("http://127.0.0.1:8080" + prefix + "/docs")
	for _, v := range swaggerui.Views {
		if !strings.Contains(page.Body.String(), `value="`+v.URL+`"`) && !strings.Contains(page.Body.String(), `value="`+strings.ReplaceAll(v.URL, "&", "&amp;")+`"`) {
			t.Errorf("the page does not offer view %s (%s)", v.Name, v.URL)
		}
		u, _ := base.Parse(v.URL)
		w := httptest.NewRecorder()
		mount.ServeHTTP(w, httptest.NewRequest("GET", u.RequestURI(), nil))
		if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
			t.Errorf("view %s at %s: %d %.200s", v.Name, u.RequestURI(), w.Code, w.Body)
		}
	}
}
