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

// openWatchdog opens the device and sets its timeout (WDIOC_SETTIMEOUT,
// read back with WDIOC_GETTIMEOUT), timeout in whole seconds as drivers
// take it. required (self-fencing relies on the device): a device that
// cannot be opened, or does not take the timeout, is an error, as sbd
// refuses to start then. Otherwise, as Heartbeat does, a device that cannot
// be opened is logged and lubdub runs without it, and a timeout it refuses
// is logged and the driver's own kept.
func openWatchdog(path string, every, timeout time.Duration, required bool, log *slog.Logger) (*watchdog, error) {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		if required {
			return nil, fmt.Errorf("watchdog device %s cannot be opened, and watchdog_fence_timeout relies on it: %w", path, err)
		}
		log.Error(fmt.Sprintf("watchdog device %s cannot be opened (%v): running without a watchdog", path, err))
		return nil, nil
	}
	w := &watchdog{path: path, f: f, every: every, log: log}
	if timeout > 0 {
		secs := int((timeout + time.Second - 1) / time.Second)
		err := unix.IoctlSetPointerInt(int(f.Fd()), unix.WDIOC_SETTIMEOUT, secs)
		got := 0
		if err == nil {
			got, err = unix.IoctlGetInt(int(f.Fd()), unix.WDIOC_GETTIMEOUT)
		}
		if err == nil && (got <= 0 || got > secs) {
			err = fmt.Errorf("the driver took %ds", got)
		}
		switch {
		case err != nil && required:
			w.close() // disarm before giving up
			return nil, fmt.Errorf("setting watchdog %s's timeout to %ds, which watchdog_fence_timeout relies on: %w", path, secs, err)
		case err != nil:
			log.Error(fmt.Sprintf("setting watchdog %s's timeout to %ds: %v: the driver keeps its own", path, secs, err))
		default:
			log.Info(fmt.Sprintf("watchdog %s: timeout %ds", path, got))
		}
	}
	log.Info(fmt.Sprintf("watchdog %s armed: fed every %s", path, every))
	w.feed()
	return w, nil
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
	w.feed()
}

// feed writes one byte to the device, which restarts its countdown.
func (w *watchdog) feed() {
	if _, err := w.f.Write([]byte{0}); err != nil {
		w.log.Error(fmt.Sprintf("feeding watchdog %s: %v", w.path, err))
	}
}

// close disarms the device with the magic close character ('V' written
// just before the close: the driver then stops its countdown; a close
// without it, as when the process dies, leaves the countdown running).
func (w *watchdog) close() {
	if _, err := w.f.Write([]byte("V")); err != nil {
		w.log.Error(fmt.Sprintf("disarming watchdog %s: %v: it will reset this machine", w.path, err))
	}
	if err := w.f.Close(); err != nil {
		w.log.Error(fmt.Sprintf("closing watchdog %s: %v", w.path, err))
		return
	}
	w.log.Info(fmt.Sprintf("watchdog %s disarmed (magic close)", w.path))
}
