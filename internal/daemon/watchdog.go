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
// A timeout > 0 is set on the device (WDIOC_SETTIMEOUT) and is required:
// self-fencing relies on it, so a device that cannot be opened, or that
// does not take the timeout (read back with WDIOC_GETTIMEOUT), is an error,
// as sbd refuses to start then. Without a timeout, a device that cannot be
// opened is logged and lubdub runs without it, as Heartbeat does.
func openWatchdog(path string, every, timeout time.Duration, log *slog.Logger) (*watchdog, error) {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		if timeout > 0 {
			return nil, fmt.Errorf("watchdog device %s cannot be opened, and watchdog_fence_timeout relies on it: %w", path, err)
		}
		log.Error(fmt.Sprintf("watchdog device %s cannot be opened (%v): running without a watchdog", path, err))
		return nil, nil
	}
	if timeout > 0 {
		secs := int(timeout / time.Second)
		err := unix.IoctlSetPointerInt(int(f.Fd()), unix.WDIOC_SETTIMEOUT, secs)
		got := 0
		if err == nil {
			got, err = unix.IoctlGetInt(int(f.Fd()), unix.WDIOC_GETTIMEOUT)
		}
		if err == nil && (got <= 0 || got > secs) {
			err = fmt.Errorf("the driver took %ds", got)
		}
		if err != nil {
			f.Write([]byte("V")) // disarm before giving up
			f.Close()
			return nil, fmt.Errorf("setting watchdog %s's timeout to %ds, which watchdog_fence_timeout relies on: %w", path, secs, err)
		}
		log.Info(fmt.Sprintf("watchdog %s: timeout %ds", path, got))
	}
	log.Info(fmt.Sprintf("watchdog %s armed: fed every %s", path, every))
	return &watchdog{path: path, f: f, every: every, log: log}, nil
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
