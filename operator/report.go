package operator

import "time"

// Request is one request on the operator socket: one JSON line.
type Request struct {
	Command string `json:"command"`
}

// Response is the answer to one Request: one JSON line.
type Response struct {
	OK     bool          `json:"ok"`
	Error  string        `json:"error,omitempty"`
	Status *StatusReport `json:"status,omitempty"`
}

// StatusReport is the status command's answer.
type StatusReport struct {
	PID        int            `json:"pid"`
	Generation uint32         `json:"generation"`
	Workers    []WorkerReport `json:"workers"`
	Totals     StatusTotals   `json:"totals"`
	Reload     ReloadReport   `json:"reload"`
	// Fleet lists the fleet's hosts when any host routes any session
	// (--fleet-secret-file); empty for a host alone.
	Fleet []FleetHostReport `json:"fleet,omitempty"`
}

// FleetHostReport is one host of the fleet in a StatusReport.
type FleetHostReport struct {
	ID     uint16 `json:"id"`
	Addr   string `json:"addr"`             // advertised HOST:PORT
	Self   bool   `json:"self,omitempty"`   // the host that answered
	Relays int    `json:"relays,omitempty"` // connections this host relays to it now
}

// WorkerReport is one worker instance in a StatusReport.
type WorkerReport struct {
	Slot        int     `json:"slot"`
	Instance    uint32  `json:"instance"`
	PID         int     `json:"pid"`
	Generation  uint32  `json:"generation"`
	State       string  `json:"state"`
	UptimeSec   float64 `json:"uptime_s"`
	Sessions    int64   `json:"sessions"`
	Connections int64   `json:"connections"`
	Restarts    int     `json:"restarts"`
}

// StatusTotals sums a StatusReport's workers.
type StatusTotals struct {
	Workers     int   `json:"workers"`
	Ready       int   `json:"ready"`
	Sessions    int64 `json:"sessions"`
	Connections int64 `json:"connections"`
}

// ReloadReport describes the latest reload.
type ReloadReport struct {
	Count      int       `json:"count"`                // reloads attempted
	InProgress bool      `json:"in_progress"`          // a reload is starting workers now
	Generation uint32    `json:"generation"`           // the generation the latest reload tried
	At         time.Time `json:"at,omitzero"`          // when it ended
	Error      string    `json:"error,omitempty"`      // why it failed; "" on success
	Draining   []uint32  `json:"draining_generations"` // old generations still running
}
