package daemon

import (
	"fmt"
	"log/slog"
	"os"
	"time"
)

// watchdog keeps a kernel watchdog device fed while the daemon's loop
// runs, so that a hung node reboots, as Heartbeat's watchdog directive does.
type watchdog struct {
	path  string
	f     *os.File
	every time.Duration
	next  time.Time
	log   *slog.Logger
}

// openWatchdog opens the device. A device that is missing or busy is
// logged and lubdub runs without it.
func openWatchdog(path string, every time.Duration, log *slog.Logger) *watchdog {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		log.Error(fmt.Sprintf("watchdog device %s cannot be opened (%v): running without a watchdog", path, err))
		return nil
	}
	log.Info(fmt.Sprintf("watchdog %s armed: fed every %s", path, every))
	return &watchdog{path: path, f: f, every: every, log: log}
}

func (w *watchdog) tickle(now time.Time) {
	if now.Before(w.next) {
		return
	}
	w.next = now.Add(w.every)
	if _, err := w.f.Write([]byte{0}); err != nil {
		w.log.Error(fmt.Sprintf("feeding watchdog %s: %v", w.path, err))
	}
}

// close disarms the device with the magic close character.
func (w *watchdog) close() {
	w.f.Write([]byte("V"))
	w.f.Close()
}
