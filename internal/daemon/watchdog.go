package daemon

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// watchdog keeps a kernel watchdog device fed while the daemon's loop
// runs, so that a hung node reboots, as Heartbeat's watchdog directive does.
type watchdog struct {
	path  string
	f     *os.File
	every time.Duration
	next  time.Time
	log   *slog.Logger
	// starving: the last tickle did not feed it (logged once).
	starving bool
}

// openWatchdog opens the device. A device that is missing or busy is
// logged and lubdub runs without it.
// A timeout > 0 is set on the device (WDIOC_SETTIMEOUT).
func openWatchdog(path string, every, timeout time.Duration, log *slog.Logger) *watchdog {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		log.Error(fmt.Sprintf("watchdog device %s cannot be opened (%v): running without a watchdog", path, err))
		return nil
	}
	if timeout > 0 {
		// The driver may round; what it took is logged.
		secs := int(timeout / time.Second)
		if err := unix.IoctlSetPointerInt(int(f.Fd()), unix.WDIOC_SETTIMEOUT, secs); err != nil {
			log.Error(fmt.Sprintf("setting watchdog %s's timeout to %ds: %v; self-fencing relies on it", path, secs, err))
		} else if got, err := unix.IoctlGetInt(int(f.Fd()), unix.WDIOC_GETTIMEOUT); err == nil {
			log.Info(fmt.Sprintf("watchdog %s: timeout %ds", path, got))
		}
	}
	log.Info(fmt.Sprintf("watchdog %s armed: fed every %s", path, every))
	return &watchdog{path: path, f: f, every: every, log: log}
}

// tickle feeds the device every interval, when feed allows it; a node
// that may not feed it is reset when the device's timeout runs out.
func (w *watchdog) tickle(now time.Time, feed bool) {
	if now.Before(w.next) {
		return
	}
	w.next = now.Add(w.every)
	if !feed {
		if !w.starving {
			w.log.Error(fmt.Sprintf("watchdog %s no longer fed: this node lost quorum and still holds groups; it will be reset unless it stops them in time", w.path))
		}
		w.starving = true
		return
	}
	if w.starving {
		w.log.Info(fmt.Sprintf("watchdog %s fed again", w.path))
		w.starving = false
	}
	if _, err := w.f.Write([]byte{0}); err != nil {
		w.log.Error(fmt.Sprintf("feeding watchdog %s: %v", w.path, err))
	}
}

// close disarms the device with the magic close character.
func (w *watchdog) close() {
	w.f.Write([]byte("V"))
	w.f.Close()
}
