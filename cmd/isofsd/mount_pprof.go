package main

import (
	"net/http"
	_ "net/http/pprof" // served only when ISOFSD_PPROF is set
	"os"
)

// startProfiler serves net/http/pprof on $ISOFSD_PPROF (e.g.
// 127.0.0.1:6060) for measuring a running mount daemon.
func startProfiler() {
	if addr := os.Getenv("ISOFSD_PPROF"); addr != "" {
		go http.ListenAndServe(addr, nil)
	}
}
