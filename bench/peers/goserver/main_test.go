package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

const oneRecord = `{"age":57,"job":"technician","marital":"married","education":"high.school","default":"no",
"housing":"no","loan":"yes","contact":"cellular","month":"may","day_of_week":"mon","duration":371,
"campaign":1,"pdays":999,"previous":1,"poutcome":"failure","emp.var.rate":-1.8,"cons.price.idx":92.893,
"cons.conf.idx":-46.2,"euribor3m":1.299,"nr.employed":5099.1}`

func post(t *testing.T, mode, body string) *httptest.ResponseRecorder {
	t.Helper()
	h, err := handler(mode)
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/score", strings.NewReader(body)))
	return w
}

func TestScore(t *testing.T) {
	for _, tc := range []struct {
		name, mode, body string
		code             int
		answer           string // a substring of the answer
	}{
		{"const ignores the body", "const", "not json", 200, `{"result":["no"]}`},
		{"parse one record", "parse", `{"data":[` + oneRecord + `]}`, 200, `{"result":["no"]}`},
		{"parse one label per record", "parse", `{"data":[` + oneRecord + `,` + oneRecord + `]}`, 200, `{"result":["no","no"]}`},
		{"parse refuses bad JSON", "parse", `{"data":[`, 400, `request body`},
		{"parse refuses a mistyped field", "parse", `{"data":[{"age":"old"}]}`, 400, `age`},
		{"parse refuses no records", "parse", `{"data":[]}`, 400, `at least one record`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := post(t, tc.mode, tc.body)
			if w.Code != tc.code || !strings.Contains(w.Body.String(), tc.answer) {
				t.Errorf("answered %d %q, want %d containing %q", w.Code, w.Body.String(), tc.code, tc.answer)
			}
		})
	}
}

func TestParseRefusesOversizedBody(t *testing.T) {
	w := post(t, "parse", `{"data":[`+strings.Repeat(oneRecord+",", maxBody/len(oneRecord)+1)+oneRecord+`]}`)
	if w.Code != http.StatusBadRequest {
		t.Errorf("a body over %d bytes answered %d, want 400", maxBody, w.Code)
	}
}

func TestUnknownMode(t *testing.T) {
	if _, err := handler("fast"); err == nil || !strings.Contains(err.Error(), `"fast"`) {
		t.Errorf("handler(fast) = %v, want an error naming the mode", err)
	}
}

func TestDelayedHoldsTheAnswer(t *testing.T) {
	h, err := handler("const")
	if err != nil {
		t.Fatal(err)
	}
	if got := delayed(h, 0); got != h {
		t.Error("delayed(h, 0) wraps h: a peer without -delay would pay for a wrapper")
	}
	const d = 20 * time.Millisecond
	w := httptest.NewRecorder()
	start := time.Now()
	delayed(h, d).ServeHTTP(w, httptest.NewRequest("POST", "/score", strings.NewReader(`{}`)))
	// A lower bound only: the sleep guarantees it whatever the machine's load.
	if el := time.Since(start); el < d {
		t.Errorf("answered after %v, want at least %v", el, d)
	}
	if w.Code != 200 {
		t.Errorf("status %d", w.Code)
	}
}
