// Command bareserver serves a bare framework's two routes (GET /v1/models,
// POST /v1/generations: the Bare, BareEcho5 and BareNetHTTP stacks of
// bench/load, no middleware), plus GET /healthz, over HTTP: the bare
// counterpart of the reference server process in TestFrontDoors.
//
//	bareserver -addr 127.0.0.1:8081 -framework echo4|echo5|nethttp
package main

import (
	"flag"
	"log"
	"net/http"

	"github.com/clipia/apiguard/bench/load"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "listen address")
	fw := flag.String("framework", load.FrameworkEcho4, "bare framework: echo4, echo5 or nethttp")
	flag.Parse()
	switch *fw {
	case load.FrameworkEcho4, load.FrameworkEcho5, load.FrameworkNetHTTP:
	default:
		log.Fatalf("-framework must be echo4, echo5 or nethttp, got %q", *fw)
	}
	h, err := load.NewStack(load.StackConfig{Stack: load.BareStack(*fw)})
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Addr: *addr, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			w.WriteHeader(http.StatusOK)
			return
		}
		h.ServeHTTP(w, r)
	})}
	log.Fatal(srv.ListenAndServe())
}
