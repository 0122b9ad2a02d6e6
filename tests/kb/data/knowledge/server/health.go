package server

import (
	"encoding/json"
	"net/http"
	"time"
)

// HealthReport is the JSON body returned by the /healthz endpoint of the vault gateway.
type HealthReport struct {
	Status    string `json:"status"`
	UptimeSec int64  `json:"uptime_sec"`
}

var started = time.Now()

// HealthHandler answers liveness probes with the gateway uptime in seconds.
func HealthHandler(w http.ResponseWriter, r *http.Request) {
	report := HealthReport{Status: "ok", UptimeSec: int64(time.Since(started).Seconds())}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(report)
}

// ReadinessHandler reports 503 until the block store connection pool is warm.
func ReadinessHandler(ready func() bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}
}
