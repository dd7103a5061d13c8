// Command goserver is the Go reference peer of bench/serving/run.sh: what a hand-written Go
// endpoint reaches on this machine before any model runs, so that mlflow serve's throughput
// can be read as a ratio to it taken in the same run.
//
//	-mode const   POST /score answers {"result":["no"]} without reading the body: the
//	              ceiling of net/http itself on these cores.
//	-mode parse   POST /score decodes the Azure payload {"data":[{20 bank fields}, ...]}
//	              into typed records with encoding/json and answers one label per record:
//	              the ceiling of an endpoint that must parse its input.
//
//	go run ./bench/peers/goserver -mode parse -addr 127.0.0.1:18082
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// bankRecord is one row of the bank-marketing payload as Azure ML's generated scoring
// script receives it. Typed fields make the decoder check every value, as a real endpoint
// must; a map[string]any would make the parse peer look cheaper than honest work.
type bankRecord struct {
	Age          int     `json:"age"`
	Job          string  `json:"job"`
	Marital      string  `json:"marital"`
	Education    string  `json:"education"`
	Default      string  `json:"default"`
	Housing      string  `json:"housing"`
	Loan         string  `json:"loan"`
	Contact      string  `json:"contact"`
	Month        string  `json:"month"`
	DayOfWeek    string  `json:"day_of_week"`
	Duration     int     `json:"duration"`
	Campaign     int     `json:"campaign"`
	Pdays        int     `json:"pdays"`
	Previous     int     `json:"previous"`
	Poutcome     string  `json:"poutcome"`
	EmpVarRate   float64 `json:"emp.var.rate"`
	ConsPriceIdx float64 `json:"cons.price.idx"`
	ConsConfIdx  float64 `json:"cons.conf.idx"`
	Euribor3m    float64 `json:"euribor3m"`
	NrEmployed   float64 `json:"nr.employed"`
}

// maxBody matches the order of mlflow serve's own limit, so neither side gains from
// accepting bodies the other would refuse.
const maxBody = 1 << 20

var constAnswer = []byte(`{"result":["no"]}` + "\n")

func scoreConst(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(constAnswer)
}

func scoreParse(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Data []bankRecord `json:"data"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&in); err != nil {
		answerError(w, http.StatusBadRequest, fmt.Sprintf("request body: %v", err))
		return
	}
	if len(in.Data) == 0 {
		answerError(w, http.StatusBadRequest, `request body: "data" must hold at least one record`)
		return
	}
	out := struct {
		Result []string `json:"result"`
	}{Result: make([]string, len(in.Data))}
	for i := range out.Result {
		out.Result[i] = "no"
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

func answerError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func handler(mode string) (http.Handler, error) {
	mux := http.NewServeMux()
	switch mode {
	case "const":
		mux.HandleFunc("POST /score", scoreConst)
	case "parse":
		mux.HandleFunc("POST /score", scoreParse)
	default:
		return nil, fmt.Errorf("-mode %q: want const or parse", mode)
	}
	// run.sh polls GET / until the peer is up; any answer will do.
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	return mux, nil
}

// delayed holds each answer at least d before h writes it; d <= 0 leaves h alone.
func delayed(h http.Handler, d time.Duration) http.Handler {
	if d <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(d)
		h.ServeHTTP(w, r)
	})
}

func main() {
	mode := flag.String("mode", "const", "const or parse")
	addr := flag.String("addr", "127.0.0.1:18081", "listen address")
	delay := flag.Duration("delay", 0, "hold every answer at least this long: a known latency that shows which load generator reads latency right")
	flag.Parse()
	log.SetPrefix("goserver: ")
	log.SetFlags(0)
	h, err := handler(*mode)
	if err != nil {
		log.Print(err)
		os.Exit(2)
	}
	h = delayed(h, *delay)
	srv := &http.Server{
		Addr:              *addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
