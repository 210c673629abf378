// Package daemon runs a lubdub node: it reads the configuration, opens the
// media, feeds the membership machine with time and authenticated
// messages, carries out its actions and answers the control socket. All
// state changes happen on one goroutine.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lubdub/lubdub/internal/control"
	"github.com/lubdub/lubdub/internal/events"
	"github.com/lubdub/lubdub/internal/fence"
	"github.com/lubdub/lubdub/internal/haconf"
	"github.com/lubdub/lubdub/internal/hblog"
	"github.com/lubdub/lubdub/internal/media"
	"github.com/lubdub/lubdub/internal/notify"
	"github.com/lubdub/lubdub/internal/pingnode"
	"github.com/lubdub/lubdub/internal/resource"
)

// Options are lubdub run's flags.
type Options struct {
	ConfigDir string
	Node      string
	StateDir  string
	Socket    string
	Version   string
	Stderr    io.Writer
	// Notify, when set, is told of readiness, reloads and the groups held
	// here (systemd's Type=notify: SystemdNotifier).
	Notify Notifier
}

// ErrConfig wraps configuration errors that stop the daemon from starting.
var ErrConfig = errors.New("configuration error")

type daemon struct {
	opts      Options
	cfg       *haconf.Config
	log       *slog.Logger
	logh      *hblog.Handler
	node      *Node
	exec      *resource.Executor
	announcer *resource.Announcer
	recv      chan media.Packet
	results   chan resource.Result
	ctrl      chan ctrlReq
	fenced    chan fenceDone
	pings     chan netip.Addr // ping nodes' echo replies
	checked   chan addrAnswer // answers about silent peers' addresses
	// fencer: the fence devices and levels in force (nil: none), rebuilt
	// when a reload changes them.
	fencer *fence.Fencer
	// loaded: a configuration read off the loop after SIGHUP; loading:
	// one is being read; reloadAgain: another SIGHUP came meanwhile.
	loaded      chan loadResult
	loading     bool
	reloadAgain bool
	watchdog    *watchdog
	notify      *notifier
	load        string
	loadRead    time.Time
	hbPeer      bool // the state directory records a Heartbeat peer
	// maint: the groups kept in maintenance (the state directory's file);
	// reloadFailed: the last SIGHUP's configuration was refused.
	maint        []string
	reloadFailed bool
	// stream: the node's events for control socket readers (subscribe
	// asks the loop for a reader); notifier: the notify hooks and alert
	// agents.
	stream    *events.Stream
	subscribe chan chan *events.Reader
	readers   atomic.Int32 // serveEvents under way
	notifier  *notify.Runner
}

// loadResult is a configuration read for a reload.
type loadResult struct {
	cfg *haconf.Config
	rep *haconf.Report
}

// fenceDone is the end of one fencing try.
type fenceDone struct {
	node string
	res  FenceResult
}

type ctrlReq struct {
	req   control.Request
	reply chan control.Response
}

// Run runs the daemon until ctx ends or SIGTERM/SIGINT arrives. It is the
// node's thin edge: the real clock, signals, sockets, the executor and the
// watchdog around one Node.
func Run(ctx context.Context, opts Options) error {
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	// All protocol work happens on one goroutine; one P avoids waking idle
	// threads at every heartbeat, which is most of an idle daemon's CPU.
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	cfg, rep := haconf.Load(opts.ConfigDir, haconf.Options{Node: opts.Node, Stonith: fence.NewGluePlugins(nil)})
	if err := rep.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	started := time.Now()
	d := &daemon{opts: opts, cfg: cfg, recv: make(chan media.Packet, 512), ctrl: make(chan ctrlReq), fenced: make(chan fenceDone, 8), loaded: make(chan loadResult, 1), pings: make(chan netip.Addr, 64), checked: make(chan addrAnswer, 8),
		results: make(chan resource.Result, 64), stream: events.NewStream(0), subscribe: make(chan chan *events.Reader)}
	d.setupLogging(cfg)
	defer d.logh.Close()
	for _, w := range rep.Warnings {
		d.log.Warn(w.String())
	}
	if risk := cfg.SplitBrainRisk(); risk != "" {
		d.log.Warn(risk)
	}
	d.log.Info("**************************")
	d.log.Info(fmt.Sprintf("Configuration validated. Starting lubdub %s", opts.Version), "node", opts.Node)

	gen, err := nextGeneration(opts.StateDir, cfg.GenMethod, started)
	if err != nil {
		return fmt.Errorf("state directory %s: %w", opts.StateDir, err)
	}
	uuid, err := nodeUUID(opts.StateDir)
	if err != nil {
		return fmt.Errorf("state directory %s: %w", opts.StateDir, err)
	}
	d.log.Info(fmt.Sprintf("Heartbeat generation: %d", gen))

	srv, err := control.Listen(opts.Socket, d.handleControl, d.log)
	if err != nil {
		return err
	}
	defer srv.Close()
	srv.Stream("events", d.serveEvents)
	defer func() {
		// Readers get the last events (this node leaving) before it exits.
		d.stream.Close()
		for i := 0; i < 200 && d.readers.Load() > 0; i++ {
			time.Sleep(10 * time.Millisecond)
		}
	}()
	d.notifier = d.startNotifier(cfg)
	defer func() { d.notifier.Close(notifyGrace(d.cfg)) }()

	var ids, unknown []string
	for _, g := range cfg.Groups {
		ids = append(ids, g.ID())
	}
	if d.maint, unknown, err = loadMaintenance(opts.StateDir, ids); err != nil {
		return fmt.Errorf("state directory %s: %w", opts.StateDir, err)
	}
	for _, u := range unknown {
		d.log.Warn(fmt.Sprintf("state file %s names group %q for maintenance, which haresources no longer has: ignored", filepath.Join(opts.StateDir, maintenanceFile), u))
	}
	if len(d.maint) > 0 {
		d.log.Warn(fmt.Sprintf("in maintenance since before the restart (lubdub maintenance off to end it): %s", strings.Join(d.maint, ", ")))
	}

	blocked := d.setupResources()
	defer d.announcer.Close()
	defer d.exec.Wait()

	id := Identity{Node: opts.Node, Generation: gen, UUID: uuid, Version: opts.Version, Started: started, Maintenance: d.maint}
	seams := Seams{
		OpenMedium: func(m haconf.Medium) (media.Medium, error) { return media.Open(m, d.cfg.Baud, d.recv, d.log) },
		Exec:       d.exec,
		Load:       d.loadAverage,
		Event:      d.event,
	}
	if d.fencer, err = fence.FromConfig(cfg, strings.ToLower(opts.Node), fence.ExecRunner{Log: d.log}, d.log); err != nil {
		return fmt.Errorf("%w: fencing: %w", ErrConfig, err)
	}
	if d.fencer != nil {
		seams.Fence = func(node string) {
			fencer := d.fencer // the one in force now; a reload may replace it
			go func() {
				res := fencer.Fence(context.Background(), node, fence.Reset)
				d.fenced <- fenceDone{node: node, res: FenceResult{OK: res.OK(), BadHost: res.BadHost(), Detail: res.String()}}
			}()
		}
	}
	if len(cfg.PingNodes) > 0 {
		pinger, err := pingnode.Listen(func(a netip.Addr) {
			select {
			case d.pings <- a:
			default: // the loop is behind: the next echo answers again
			}
		})
		if err != nil {
			return fmt.Errorf("ping nodes: %w", err)
		}
		defer pinger.Close()
		seams.AddrInUse = d.askAddrs
		limit := newRateLimiter(time.Minute)
		seams.Ping = func(a netip.Addr) {
			if err := pinger.Send(a); err != nil {
				if ok, n := limit.allow(time.Now(), a.String()); ok {
					d.log.Warn(fmt.Sprintf("%v (%d more since the last report)", err, n), "node", a.String())
				}
			}
		}
	}
	d.hbPeer = crashedWithHeartbeatPeer(opts.StateDir)
	id.CrashedWithHeartbeatPeer = d.hbPeer
	d.node = NewNode(cfg, id, seams, blocked, time.Now(), d.log)
	// Armed only now: the start-up checks and stops above may take longer
	// than its timeout.
	if cfg.Watchdog != "" {
		if d.watchdog, err = openWatchdog(cfg.Watchdog, cfg.Keepalive, cfg.WatchdogDeviceTimeout(), cfg.Tuning.WatchdogFenceTimeout > 0, d.log); err != nil {
			d.node.Shutdown(time.Now())
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}

	if addr := cfg.Tuning.MetricsListen; addr != "" {
		ms, err := d.serveMetrics(addr)
		if err != nil {
			// An orderly exit: disarmed, or the machine would reset.
			d.shutdown("metrics_listen: " + err.Error())
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
		defer ms.Close()
	}

	d.notify = newNotifier(opts.Notify, time.Now(), cfg.Initdead, monotonicUsec, d.log)
	d.tellNotifier()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	return d.loop(ctx, sigs)
}

// setupResources prepares the executor and asks every resource whether it
// already runs here. A group found running belongs to an earlier life of
// this node (its daemon died, not its machine); another node may have
// taken it over since. It is stopped before joining; one that will not
// stop is blocked.
func (d *daemon) setupResources() (blocked []bool) {
	ocfRoot := os.Getenv("OCF_ROOT")
	if ocfRoot == "" {
		ocfRoot = "/usr/lib/ocf"
	}
	d.announcer = resource.NewAnnouncer(resource.NewARPSender(), d.log)
	env := resource.Env{ConfigDir: d.opts.ConfigDir, InitDir: "/etc/init.d", OCFRoot: ocfRoot, Log: d.log,
		Node: strings.ToLower(d.opts.Node), DataPath: d.cfg.Tuning.LVSDataPath, Announcer: d.announcer}
	d.exec = resource.NewExecutor(d.cfg.Groups, env, d.cfg.Tuning, d.results)
	found := d.exec.Probe()
	blocked = make([]bool, len(found))
	for g, running := range found {
		if !running {
			continue
		}
		if slices.Contains(d.maint, d.cfg.Groups[g].ID()) {
			d.log.Warn(fmt.Sprintf("resource group %s is running at start-up and in maintenance: left as it is", d.cfg.Groups[g].ID()), "group", d.cfg.Groups[g].ID())
			blocked[g] = true // still running: the node takes it as running
			continue
		}
		d.log.Warn(fmt.Sprintf("resource group %s is running at start-up: stopping it before joining the cluster", d.cfg.Groups[g].ID()), "group", d.cfg.Groups[g].ID())
		d.exec.Run(g, resource.Stop)
		if r := <-d.results; !r.OK {
			blocked[g] = true
		}
	}
	return blocked
}

func (d *daemon) setupLogging(cfg *haconf.Config) {
	h, problems := hblog.New(hblog.Options{Stderr: d.opts.Stderr, Logfile: cfg.Logfile,
		Debugfile: cfg.Debugfile, Facility: cfg.Logfacility, Debug: cfg.Debug > 0})
	if d.logh != nil {
		d.logh.Close()
	}
	d.logh = h
	d.log = slog.New(h)
	for _, p := range problems {
		d.log.Error(p.Error())
	}
}

func (d *daemon) loop(ctx context.Context, sigs <-chan os.Signal) error {
	timer := time.NewTimer(time.Until(d.wakeup()))
	defer timer.Stop()
	done := ctx.Done()
	for {
		select {
		case <-done:
			done = nil
			d.log.Info("asked to stop: giving up resources, then stopping")
			d.node.Leave(time.Now())
		case s := <-sigs:
			if s == syscall.SIGHUP {
				if d.loading {
					d.reloadAgain = true // read again once this one is applied
					break
				}
				d.notify.reloading()
				d.startLoad()
				break
			}
			if d.node.Leaving() {
				d.log.Warn(fmt.Sprintf("second %s: stopping now, resources as they are", s))
				d.shutdown(fmt.Sprintf("signal %s", s))
				return nil
			}
			d.log.Info(fmt.Sprintf("%s: giving up resources, then stopping", s))
			d.node.Leave(time.Now())
		case l := <-d.loaded:
			d.loading = false
			ok := d.reload(l)
			d.notify.reloaded(d.node.notifyView(), ok)
			if d.reloadAgain {
				d.reloadAgain = false
				d.notify.reloading()
				d.startLoad()
			}
		case r := <-d.results:
			d.node.Result(time.Now(), r)
		case f := <-d.fenced:
			d.node.Fenced(time.Now(), f.node, f.res)
		case p := <-d.recv:
			d.node.Packet(time.Now(), p)
		case a := <-d.pings:
			d.node.PingReply(time.Now(), a)
		case a := <-d.checked:
			d.node.AddrsChecked(time.Now(), a.peer, a.token, a.answeredBy, a.failed)
		case r := <-d.ctrl:
			r.reply <- d.answer(r.req)
		case reply := <-d.subscribe:
			// On the loop, so that the state a new reader gets first is
			// the state after the last event it will not get.
			reply <- d.stream.Subscribe(d.node.CurrentEvents(time.Now()))
		case <-timer.C:
			now := time.Now()
			d.node.Tick(now)
			// Fed from the loop only, and only while the node may run:
			// a hung loop, or a node without quorum that cannot stop its
			// groups, is reset.
			if d.watchdog != nil {
				d.watchdog.tickle(now, d.node.WatchdogOK())
			}
		}
		d.tellNotifier()
		if d.node.Done() {
			d.shutdown("resources given up")
			d.heartbeatPeer(false)
			return nil
		}
		d.heartbeatPeer(d.node.Dialect() == dialectHeartbeat)
		timer.Reset(time.Until(d.wakeup()))
	}
}

// heartbeatPeer keeps the state directory's record of a Heartbeat peer.
func (d *daemon) heartbeatPeer(on bool) {
	if on == d.hbPeer {
		return
	}
	if err := markHeartbeatPeer(d.opts.StateDir, on); err != nil {
		d.log.Error(fmt.Sprintf("state directory %s: %v", d.opts.StateDir, err))
		return
	}
	d.hbPeer = on
}

// wakeup is the next time anything is due.
func (d *daemon) wakeup() time.Time {
	t := d.node.NextWakeup()
	if d.watchdog != nil && d.watchdog.next.Before(t) {
		t = d.watchdog.next
	}
	if n := d.notify.due(); !n.IsZero() && n.Before(t) {
		t = n
	}
	return t
}

func (d *daemon) shutdown(why string) {
	d.log.Info("lubdub shutting down", "reason", why)
	d.node.Shutdown(time.Now())
	if d.watchdog != nil {
		d.watchdog.close()
	}
	d.log.Info(fmt.Sprintf("%s lubdub shutdown complete.", d.opts.Node))
}

// answer answers a control request: the node's, but for what concerns
// the executor alone.
func (d *daemon) answer(req control.Request) control.Response {
	if req.Cmd == "reload-ldirectord" {
		// lubdub ldirectord FILE reload, for an ldirectord resource
		// running in this daemon rather than standalone.
		if n, _ := d.exec.Reload(req.Name); n == 0 {
			return control.Response{Error: fmt.Sprintf("no ldirectord resource here reads %s", req.Name)}
		}
		return control.Response{Value: fmt.Sprintf("reloading %s", req.Name)}
	}
	resp := d.node.Answer(time.Now(), req)
	if req.Cmd == "maintenance" && resp.Error == "" {
		// Kept before the answer, so that a restart right after the
		// command still finds it.
		if on := d.node.MaintenanceGroups(); !slices.Equal(on, d.maint) {
			if err := saveMaintenance(d.opts.StateDir, on); err != nil {
				d.log.Error(err.Error())
				resp.Value += fmt.Sprintf(" (NOT kept across a restart: %v)", err)
			}
			d.maint = on
		}
	}
	if resp.Status != nil {
		resp.Status.ReloadFailed = d.reloadFailed
	}
	return resp
}

// startLoad re-reads the configuration on SIGHUP, off the loop: checking
// ha.cf's stonith lines runs cluster-glue, and meanwhile the loop goes on
// sending heartbeats and feeding the watchdog. The result comes back
// through d.loaded (reload applies it). The ldirectord.cf of each
// ldirectord resource running here is re-read and applied as ldirectord's
// own SIGHUP does (each file judged on its own, in the background).
func (d *daemon) startLoad() {
	d.log.Info("SIGHUP: re-reading configuration", "dir", d.opts.ConfigDir)
	d.exec.Reload("")
	d.loading = true
	dir, node := d.opts.ConfigDir, d.opts.Node
	go func() {
		cfg, rep := haconf.Load(dir, haconf.Options{Node: node, Stonith: fence.NewGluePlugins(nil)})
		d.loaded <- loadResult{cfg: cfg, rep: rep}
	}()
}

// reload applies a configuration read after SIGHUP; a broken one is
// refused and the running one kept (false). Changed fence devices or
// levels take effect at once: the fencer is rebuilt (a try under way ends
// with the old one).
func (d *daemon) reload(l loadResult) bool {
	cfg, rep := l.cfg, l.rep
	if err := rep.Err(); err != nil {
		for _, e := range rep.Errors {
			d.log.Error(e.String())
		}
		d.log.Error("Config errors: configuration NOT reloaded; the old one stays in force")
		d.reloadFailed = true
		d.node.ConfigRefused(time.Now(), fmt.Sprintf("%s (%d errors)", rep.Errors[0], len(rep.Errors)))
		return false
	}
	d.reloadFailed = false
	old := d.node.cfg
	if d.node.Reload(time.Now(), cfg) {
		d.setupLogging(cfg)
	}
	if applied := d.node.cfg; fencingChanged(old, applied) {
		d.rebuildFencer(applied)
	}
	if !reflect.DeepEqual(d.cfg.Notify, cfg.Notify) {
		// The old programs finish what they were given, off the loop.
		go d.notifier.Close(notifyGrace(d.cfg))
		d.notifier = d.startNotifier(cfg)
	}
	d.cfg = d.node.cfg
	d.log.Info("configuration reloaded")
	return true
}

// rebuildFencer puts cfg's fence devices and levels in force. One that
// cannot be built (haconf has checked what it can) leaves the old one.
func (d *daemon) rebuildFencer(cfg *haconf.Config) {
	f, err := fence.FromConfig(cfg, strings.ToLower(d.opts.Node), fence.ExecRunner{Log: d.log}, d.log)
	switch {
	case err != nil:
		d.log.Error(fmt.Sprintf("fencing configuration not taken: %v: the fence devices and levels in force stay", err))
	case f == nil && d.fencer == nil:
		// ha.cf's stonith lines for other nodes changed: none is ours.
	case f == nil:
		// reloadPlan keeps fencing on until a restart; nothing to build.
		d.log.Error("fencing configuration not taken: no fence device for this node: the fence devices and levels in force stay until a restart")
	default:
		d.fencer = f
		d.log.Info(fmt.Sprintf("fence devices and levels changed: in force from now on (%s)", describeFencer(f)))
	}
}

// describeFencer names a fencer's devices, in order, and the nodes with
// fencing levels.
func describeFencer(f *fence.Fencer) string {
	s := "devices " + strings.Join(f.Order, ", ")
	var nodes []string
	for n := range f.Topology {
		nodes = append(nodes, n)
	}
	if len(nodes) > 0 {
		slices.Sort(nodes)
		s += "; levels for " + strings.Join(nodes, ", ")
	}
	return s
}

// event takes an event of the node: to the control socket's readers and
// the notification programs, neither of which ever makes the loop wait.
func (d *daemon) event(e events.Event) {
	d.stream.Publish(e)
	d.notifier.Event(e)
}

// startNotifier starts the notify hooks and alert agents of cfg (nil if
// there are none).
func (d *daemon) startNotifier(cfg *haconf.Config) *notify.Runner {
	nf := cfg.Notify
	if len(nf.Hooks) == 0 && len(nf.Alerts) == 0 {
		return nil
	}
	return notify.Start(notify.Config{Hooks: nf.Hooks, Alerts: nf.Alerts, Timeout: nf.Timeout, Nodes: cfg.Nodes, Version: d.opts.Version}, d.log)
}

// notifyGrace is how long a stopping daemon lets notification programs
// finish the last events (a node leaving, groups stopped): their timeout,
// at most 10 s.
func notifyGrace(cfg *haconf.Config) time.Duration { return min(cfg.Notify.Timeout, 10*time.Second) }

// serveEvents answers lubdub events: the node's state now, then every
// event, until the reader leaves or falls behind.
func (d *daemon) serveEvents(req control.Request, send func(any) error, done <-chan struct{}) {
	d.readers.Add(1)
	defer d.readers.Add(-1)
	reply := make(chan *events.Reader, 1)
	select {
	case d.subscribe <- reply:
	case <-time.After(3 * time.Second):
		send(control.Response{Error: "daemon busy"})
		return
	case <-done:
		return
	}
	r := <-reply
	defer r.Close()
	for {
		e, err := r.Next(done)
		if err != nil {
			if errors.Is(err, events.ErrFellBehind) {
				send(control.Response{Error: "events: this reader " + err.Error() + ": reconnect for the current state"})
			}
			return
		}
		if send(e) != nil {
			return
		}
	}
}

func (d *daemon) handleControl(req control.Request) control.Response {
	r := ctrlReq{req: req, reply: make(chan control.Response, 1)}
	select {
	case d.ctrl <- r:
	case <-time.After(3 * time.Second):
		return control.Response{Error: "daemon busy"}
	}
	return <-r.reply
}

// loadAverage is /proc/loadavg for the ld field, read at most once a
// second: it changes no faster, and heartbeats may go out ten times as often.
func (d *daemon) loadAverage() string {
	if now := time.Now(); now.Sub(d.loadRead) >= time.Second {
		d.loadRead = now
		d.load = ""
		if b, err := os.ReadFile("/proc/loadavg"); err == nil {
			d.load = strings.TrimSpace(string(b))
		}
	}
	return d.load
}

// addrAnswer is what asking about a silent peer's addresses found.
type addrAnswer struct {
	peer               string
	token              uint64
	answeredBy, failed string
}

// askAddrs asks, in the background, whether any of a silent peer's group
// addresses still answers ARP: three requests of 100 ms each (a quarter of
// deadtime when that is less), every address at once.
func (d *daemon) askAddrs(peer string, token uint64, vips []control.VIP) {
	wait := min(100*time.Millisecond, d.cfg.Deadtime/4)
	go func() {
		type answer struct{ by, failed string }
		answers := make(chan answer, len(vips))
		for _, v := range vips {
			go func() {
				a, err := netip.ParseAddr(v.Address)
				if err != nil {
					answers <- answer{failed: fmt.Sprintf("address %q: %v", v.Address, err)}
					return
				}
				mac, err := resource.AddrInUse(a, v.Iface, 3, wait)
				switch {
				case err != nil:
					answers <- answer{failed: err.Error()}
				case mac != nil:
					answers <- answer{by: fmt.Sprintf("%s (from %s)", a, mac)}
				default:
					answers <- answer{}
				}
			}()
		}
		var by, failed []string
		for range vips {
			if a := <-answers; a.by != "" {
				by = append(by, a.by)
			} else if a.failed != "" {
				failed = append(failed, a.failed)
			}
		}
		if len(by) > 0 {
			d.checked <- addrAnswer{peer: peer, token: token, answeredBy: strings.Join(by, ", ")}
			return
		}
		d.checked <- addrAnswer{peer: peer, token: token, failed: strings.Join(failed, "; ")}
	}()
}
