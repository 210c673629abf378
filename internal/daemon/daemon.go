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
	"os"
	"os/signal"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/lubdub/lubdub/internal/control"
	"github.com/lubdub/lubdub/internal/haconf"
	"github.com/lubdub/lubdub/internal/hblog"
	"github.com/lubdub/lubdub/internal/media"
	"github.com/lubdub/lubdub/internal/membership"
	"github.com/lubdub/lubdub/internal/placement"
	"github.com/lubdub/lubdub/internal/resource"
	"github.com/lubdub/lubdub/internal/wire"
)

// Options are lubdub run's flags.
type Options struct {
	ConfigDir string
	Node      string
	StateDir  string
	Socket    string
	Version   string
	Stderr    io.Writer
}

// ErrConfig wraps configuration errors that stop the daemon from starting.
var ErrConfig = errors.New("configuration error")

const mediaRetry = 5 * time.Second

type medium struct {
	cfg   haconf.Medium
	m     media.Medium
	state string
	err   string
	next  time.Time // when to try opening again
}

type daemon struct {
	opts     Options
	cfg      *haconf.Config
	log      *slog.Logger
	logh     *hblog.Handler
	mach     *membership.Machine
	gen      uint64
	started  time.Time
	media    []*medium
	recv     chan media.Packet
	ctrl     chan ctrlReq
	drops    map[string]uint64
	limiter  *rateLimiter
	watchdog *watchdog
	load     string
	loadRead time.Time

	eng        *placement.Engine
	exec       *resource.Executor
	results    chan resource.Result
	engReady   bool
	monitorDue []time.Time
	monitoring []bool
	leaving    bool
}

type ctrlReq struct {
	req   control.Request
	reply chan control.Response
}

// Run runs the daemon until ctx ends or SIGTERM/SIGINT arrives.
func Run(ctx context.Context, opts Options) error {
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	// All protocol work happens on one goroutine; one P avoids waking idle
	// threads at every heartbeat, which is most of an idle daemon's CPU.
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	cfg, rep := haconf.Load(opts.ConfigDir, haconf.Options{Node: opts.Node})
	if err := rep.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	d := &daemon{opts: opts, cfg: cfg, started: time.Now(), drops: map[string]uint64{},
		recv: make(chan media.Packet, 512), ctrl: make(chan ctrlReq), limiter: newRateLimiter(10 * time.Second)}
	d.setupLogging(cfg)
	defer d.logh.Close()
	for _, w := range rep.Warnings {
		d.log.Warn(w.String())
	}
	d.log.Info("**************************")
	d.log.Info(fmt.Sprintf("Configuration validated. Starting lubdub %s", opts.Version), "node", opts.Node)

	gen, err := nextGeneration(opts.StateDir, cfg.GenMethod, d.started)
	if err != nil {
		return fmt.Errorf("state directory %s: %w", opts.StateDir, err)
	}
	uuid, err := nodeUUID(opts.StateDir)
	if err != nil {
		return fmt.Errorf("state directory %s: %w", opts.StateDir, err)
	}
	d.gen = gen
	d.log.Info(fmt.Sprintf("Heartbeat generation: %d", gen))

	srv, err := control.Listen(opts.Socket, d.handleControl, d.log)
	if err != nil {
		return err
	}
	defer srv.Close()

	if cfg.Watchdog != "" {
		d.watchdog = openWatchdog(cfg.Watchdog, cfg.Keepalive, d.log)
	}
	for _, mc := range cfg.Media {
		d.media = append(d.media, &medium{cfg: mc, state: "closed"})
	}
	d.openMedia(time.Now())
	defer d.closeMedia()

	d.setupResources()
	defer d.exec.Wait()

	now := time.Now()
	d.mach = membership.New(d.machineConfig(uuid), now, d.log)
	d.act(d.mach.Start(now))

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	return d.loop(ctx, sigs)
}

// setupResources prepares the executor, asks every resource whether it
// already runs here, and creates the placement engine.
func (d *daemon) setupResources() {
	ocfRoot := os.Getenv("OCF_ROOT")
	if ocfRoot == "" {
		ocfRoot = "/usr/lib/ocf"
	}
	d.results = make(chan resource.Result, 64)
	env := resource.Env{ConfigDir: d.opts.ConfigDir, InitDir: "/etc/init.d", OCFRoot: ocfRoot, Log: d.log,
		Node: strings.ToLower(d.opts.Node), DataPath: d.cfg.Tuning.LVSDataPath}
	d.exec = resource.NewExecutor(d.cfg.Groups, env, d.cfg.Tuning, d.results)
	var groups []placement.Group
	for _, g := range d.cfg.Groups {
		groups = append(groups, placement.Group{ID: g.ID(), Preferred: g.Node})
	}
	d.eng = placement.New(placement.Config{Local: strings.ToLower(d.opts.Node), Nodes: d.cfg.Nodes, Groups: groups,
		AutoFailback: d.cfg.AutoFailback, MaxRestarts: d.cfg.Tuning.MaxRestarts, Epoch: d.gen}, d.log)
	// A group found running at start-up belongs to an earlier life of this
	// node (its daemon died, not its machine); another node may have taken
	// it over since. Stop it before joining; if it will not stop, block it.
	found := d.exec.Probe()
	stillRunning := make([]bool, len(found))
	for g, running := range found {
		if !running {
			continue
		}
		d.log.Warn(fmt.Sprintf("resource group %s is running at start-up: stopping it before joining the cluster", d.cfg.Groups[g].ID()), "group", d.cfg.Groups[g].ID())
		d.exec.Run(g, resource.Stop)
		if r := <-d.results; !r.OK {
			stillRunning[g] = true
		}
	}
	d.eng.Probe(stillRunning)
	d.monitorDue = make([]time.Time, len(groups))
	d.monitoring = make([]bool, len(groups))
}

func (d *daemon) machineConfig(uuid []byte) membership.Config {
	var links []string
	for _, m := range d.cfg.Media {
		if !slices.Contains(links, m.Name()) {
			links = append(links, m.Name())
		}
	}
	return membership.Config{
		Local: strings.ToLower(d.opts.Node), Nodes: d.cfg.Nodes, Links: links,
		Keepalive: d.cfg.Keepalive, Deadtime: d.cfg.Deadtime, Warntime: d.cfg.Warntime,
		Initdead: d.cfg.Initdead, MaxRexmitDelay: d.cfg.MaxRexmitDelay,
		Generation: d.gen, UUID: uuid, TTL: len(d.cfg.Nodes) + d.cfg.Hopfudge,
		Load: d.loadAverage,
	}
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
			d.leaving = true
			d.place(d.eng.Leave())
		case s := <-sigs:
			if s == syscall.SIGHUP {
				d.reload()
				break
			}
			if d.leaving {
				d.log.Warn(fmt.Sprintf("second %s: stopping now, resources as they are", s))
				d.shutdown(fmt.Sprintf("signal %s", s))
				return nil
			}
			d.log.Info(fmt.Sprintf("%s: giving up resources, then stopping", s))
			d.leaving = true
			d.place(d.eng.Leave())
		case r := <-d.results:
			d.result(r)
		case p := <-d.recv:
			d.packet(time.Now(), p)
		case r := <-d.ctrl:
			r.reply <- d.answer(r.req)
		case <-timer.C:
			now := time.Now()
			d.act(d.mach.Tick(now))
			d.openMedia(now)
			if d.watchdog != nil {
				d.watchdog.tickle(now)
			}
			d.monitor(now)
		}
		if d.leaving && d.eng.Idle() {
			d.shutdown("resources given up")
			return nil
		}
		timer.Reset(time.Until(d.wakeup()))
	}
}

// wakeup is the next time anything is due.
func (d *daemon) wakeup() time.Time {
	t := d.mach.NextWakeup()
	for _, m := range d.media {
		if m.m == nil && m.state != "skipped" && m.next.Before(t) {
			t = m.next
		}
	}
	if d.watchdog != nil && d.watchdog.next.Before(t) {
		t = d.watchdog.next
	}
	if d.cfg.Tuning.MonitorInterval > 0 {
		for g := range d.monitorDue {
			if d.eng.Local(g) == placement.Running && !d.monitoring[g] && d.monitorDue[g].Before(t) {
				t = d.monitorDue[g]
			}
		}
	}
	return t
}

// monitor checks the status of running groups that are due.
func (d *daemon) monitor(now time.Time) {
	if d.cfg.Tuning.MonitorInterval <= 0 {
		return
	}
	for g := range d.monitorDue {
		if d.eng.Local(g) != placement.Running || d.eng.Busy(g) || d.monitoring[g] {
			continue
		}
		if d.monitorDue[g].IsZero() {
			d.monitorDue[g] = now.Add(d.cfg.Tuning.MonitorInterval)
			continue
		}
		if now.Before(d.monitorDue[g]) {
			continue
		}
		d.monitoring[g] = true
		d.monitorDue[g] = now.Add(d.cfg.Tuning.MonitorInterval)
		d.exec.Run(g, resource.Monitor)
	}
}

// result takes the end of a resource operation.
func (d *daemon) result(r resource.Result) {
	if r.Op == resource.Monitor {
		d.monitoring[r.Group] = false
		if !r.OK && d.eng.Local(r.Group) == placement.Running && !d.eng.Busy(r.Group) {
			d.log.Warn(fmt.Sprintf("monitor of resource group %s: %v", d.cfg.Groups[r.Group].ID(), r.Err), "group", d.cfg.Groups[r.Group].ID())
			d.place(d.eng.MonitorFailed(r.Group))
		}
		return
	}
	d.monitorDue[r.Group] = time.Time{}
	d.place(d.eng.Done(r.Group, placement.Op(r.Op), r.OK))
}

// place carries out the placement engine's actions.
func (d *daemon) place(acts []placement.Action) {
	for _, a := range acts {
		switch a := a.(type) {
		case placement.Send:
			d.act(d.mach.SendMessage(time.Now(), a.Msg))
		case placement.Run:
			d.exec.Run(a.Group, resource.Op(a.Op))
		}
	}
}

func (d *daemon) shutdown(why string) {
	d.log.Info("lubdub shutting down", "reason", why)
	d.act(d.mach.Shutdown(time.Now()))
	if d.watchdog != nil {
		d.watchdog.close()
	}
	d.log.Info(fmt.Sprintf("%s lubdub shutdown complete.", d.opts.Node))
}

// openMedia opens media that are closed and due for a try.
func (d *daemon) openMedia(now time.Time) {
	for _, m := range d.media {
		if m.m != nil || m.state == "skipped" || now.Before(m.next) {
			continue
		}
		mm, err := media.Open(m.cfg, d.cfg.Baud, d.recv, d.log)
		switch {
		case errors.Is(err, media.ErrSkipped):
			m.state = "skipped"
			d.log.Info(fmt.Sprintf("ucast %s %s names this node's own address: skipped", m.cfg.Dev, m.cfg.Peer))
		case err != nil:
			if m.err != err.Error() {
				d.log.Error(fmt.Sprintf("cannot open %s (ha.cf line %d): %v; retrying every %s", m.cfg, m.cfg.Line, err, mediaRetry), "link", m.cfg.Dev)
			}
			m.state, m.err, m.next = "failed", err.Error(), now.Add(mediaRetry)
		default:
			if m.state == "failed" {
				d.log.Info(fmt.Sprintf("opened %s after earlier failures", m.cfg), "link", m.cfg.Dev)
			}
			m.m, m.state, m.err = mm, "open", ""
		}
	}
}

func (d *daemon) closeMedia() {
	for _, m := range d.media {
		if m.m != nil {
			m.m.Close()
			m.m = nil
			m.state = "closed"
		}
	}
}

// packet authenticates a received frame and feeds it to the machine.
func (d *daemon) packet(now time.Time, p media.Packet) {
	pkt, err := wire.Decode(p.Data)
	if err != nil {
		reason := "malformed"
		if errors.Is(err, wire.ErrTooLarge) {
			reason = "too-large"
		}
		d.dropped(p.Link, p.From, "", reason, err.Error())
		return
	}
	if err := wire.Verify(pkt, d.cfg.Keys); err != nil {
		reason := "bad-digest"
		switch {
		case errors.Is(err, wire.ErrNoAuth):
			reason = "no-auth"
		case errors.Is(err, wire.ErrUnknownKey):
			reason = "unknown-key"
		}
		d.dropped(p.Link, p.From, pkt.Msg.Value(wire.FOrig), reason, err.Error()+": check that authkeys is the same on every node")
		return
	}
	d.act(d.mach.Receive(now, p.Link, pkt.Msg))
}

func (d *daemon) dropped(link, addr, node, reason, detail string) {
	d.drops[reason]++
	if !d.cfg.LogBadPack {
		return
	}
	who := addr
	if node != "" {
		who = fmt.Sprintf("%s (%s)", node, addr)
	}
	if ok, suppressed := d.limiter.allow(reason + "/" + who); ok {
		msg := fmt.Sprintf("dropped packet from %s on %s: %s: %s", who, link, reason, detail)
		if suppressed > 0 {
			msg += fmt.Sprintf(" (%d more like it not logged)", suppressed)
		}
		d.log.Warn(msg, "link", link, "reason", reason)
	}
}

// act carries out the machine's actions.
func (d *daemon) act(acts []membership.Action) {
	var frames [2][]byte
	for _, a := range acts {
		switch a := a.(type) {
		case membership.Send:
			frames = [2][]byte{}
			for _, m := range d.media {
				if m.m == nil {
					continue
				}
				f := m.m.Format()
				if frames[f] == nil {
					b, err := wire.Encode(a.Msg, d.cfg.Keys, f)
					if err != nil {
						d.log.Error("cannot encode message", "err", err)
						break
					}
					frames[f] = b
				}
				if err := m.m.Send(frames[f]); err != nil {
					if ok, _ := d.limiter.allow("send/" + m.cfg.Dev); ok {
						d.log.Warn(err.Error(), "link", m.cfg.Dev)
					}
				}
			}
		case membership.NodeChanged:
			d.log.Debug("node status", "node", a.Node, "from", string(a.From), "to", string(a.To), "reason", a.Reason)
			switch {
			case a.To == membership.StatusDead:
				d.place(d.eng.NodeDown(a.Node))
			case a.To.Alive() && !a.From.Alive():
				d.place(d.eng.NodeUp(a.Node))
			}
		case membership.NodeRestarted:
			d.place(d.eng.NodeUp(a.Node))
		case membership.Dropped:
			d.dropped(a.Link, "", a.Node, string(a.Reason), a.Detail)
		case membership.Deliver:
			if a.Msg.Value(wire.FType) == placement.MsgType {
				d.place(d.eng.Receive(a.Node, a.Msg))
			} else {
				d.log.Debug("message not handled", "node", a.Node, "type", a.Msg.Value(wire.FType))
			}
		}
	}
	if !d.engReady && d.mach.LocalStatus() == membership.StatusActive {
		d.engReady = true
		d.place(d.eng.Ready())
	}
}

// reload re-reads the configuration on SIGHUP. Keys, logging, parameters
// and media change at once; node lists and timings need a restart, since
// changing them under running peers would break the protocol. The
// ldirectord.cf of each ldirectord resource running here is re-read and
// applied as ldirectord's own SIGHUP does (each file judged on its own).
func (d *daemon) reload() {
	d.log.Info("SIGHUP: re-reading configuration", "dir", d.opts.ConfigDir)
	d.exec.Reload("")
	cfg, rep := haconf.Load(d.opts.ConfigDir, haconf.Options{Node: d.opts.Node})
	if err := rep.Err(); err != nil {
		for _, e := range rep.Errors {
			d.log.Error(e.String())
		}
		d.log.Error("Config errors: configuration NOT reloaded; the old one stays in force")
		return
	}
	old := d.cfg
	if !slices.Equal(old.Nodes, cfg.Nodes) || old.Keepalive != cfg.Keepalive || old.Deadtime != cfg.Deadtime ||
		old.Warntime != cfg.Warntime || old.Initdead != cfg.Initdead {
		d.log.Warn("node list or timings changed: they take effect when lubdub restarts")
		cfg.Nodes, cfg.Keepalive, cfg.Deadtime, cfg.Warntime, cfg.Initdead = old.Nodes, old.Keepalive, old.Deadtime, old.Warntime, old.Initdead
	}
	if !reflect.DeepEqual(old.Groups, cfg.Groups) || old.Tuning != cfg.Tuning || old.AutoFailback != cfg.AutoFailback {
		d.log.Warn("haresources, lubdub.cf or auto_failback changed: they take effect when lubdub restarts")
		cfg.Groups, cfg.Tuning, cfg.AutoFailback = old.Groups, old.Tuning, old.AutoFailback
	}
	d.cfg = cfg
	if old.Logfile != cfg.Logfile || old.Debugfile != cfg.Debugfile || old.Logfacility != cfg.Logfacility || old.Debug != cfg.Debug {
		d.setupLogging(cfg)
	}
	if !reflect.DeepEqual(old.Media, cfg.Media) || old.Baud != cfg.Baud {
		var links []string
		for _, m := range cfg.Media {
			links = append(links, m.Name())
		}
		d.closeMedia()
		d.media = nil
		for _, mc := range cfg.Media {
			d.media = append(d.media, &medium{cfg: mc, state: "closed"})
		}
		d.openMedia(time.Now())
		d.log.Info("media reopened", "links", strings.Join(links, ","))
	}
	d.log.Info("configuration reloaded")
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

func (d *daemon) answer(req control.Request) control.Response {
	switch req.Cmd {
	case "status":
		return control.Response{Status: d.status()}
	case "standby", "takeover":
		w := placement.Which(req.Name)
		if w == "" {
			w = placement.All
		}
		if w != placement.All && w != placement.Local && w != placement.Foreign {
			return control.Response{Error: fmt.Sprintf("%s %q: say all, local or foreign", req.Cmd, req.Name)}
		}
		var acts []placement.Action
		var err error
		if req.Cmd == "standby" {
			acts, err = d.eng.Standby(w)
		} else {
			acts, err = d.eng.Takeover(w)
		}
		d.place(acts)
		if err != nil {
			return control.Response{Error: err.Error()}
		}
		d.log.Info(fmt.Sprintf("%s %s requested", req.Cmd, w))
		return control.Response{Value: fmt.Sprintf("%s %s: requested", req.Cmd, w)}
	case "reload-ldirectord":
		// lubdub ldirectord FILE reload, for an ldirectord resource
		// running in this daemon rather than standalone.
		n, _ := d.exec.Reload(req.Name)
		if n == 0 {
			return control.Response{Error: fmt.Sprintf("no ldirectord resource here reads %s", req.Name)}
		}
		return control.Response{Value: fmt.Sprintf("reloading %s", req.Name)}
	case "cleanup":
		for g, grp := range d.cfg.Groups {
			if grp.ID() == req.Name || req.Name == "all" {
				d.place(d.eng.Cleanup(g))
				if req.Name != "all" {
					return control.Response{Value: "cleared " + grp.ID()}
				}
			}
		}
		if req.Name == "all" {
			return control.Response{Value: "cleared every group"}
		}
		return control.Response{Error: fmt.Sprintf("no resource group %q", req.Name)}
	case "param":
		if req.Name == "hbversion" {
			return control.Response{Value: d.opts.Version}
		}
		v, ok := d.cfg.Params[req.Name]
		if !ok {
			return control.Response{Error: fmt.Sprintf("Cannot get parameter %s's value", req.Name)}
		}
		return control.Response{Value: v}
	}
	return control.Response{Error: fmt.Sprintf("unknown command %q", req.Cmd)}
}

func (d *daemon) status() *control.Status {
	s := &control.Status{
		Node: strings.ToLower(d.opts.Node), Version: d.opts.Version, Cluster: d.cfg.Cluster,
		Generation: d.gen, Started: d.started, Now: time.Now(),
		Keepalive: haconf.FormatDuration(d.cfg.Keepalive), Deadtime: haconf.FormatDuration(d.cfg.Deadtime),
		Warntime: haconf.FormatDuration(d.cfg.Warntime), Initdead: haconf.FormatDuration(d.cfg.Initdead),
		Resources: d.eng.Held(), Drops: map[string]uint64{},
	}
	for i, g := range d.eng.Groups() {
		cg := control.Group{ID: g.ID, Preferred: g.Preferred, Owner: g.Owner, Local: string(g.Local), Nodes: map[string]string{}}
		for n, st := range g.Nodes {
			cg.Nodes[n] = string(st)
		}
		for _, r := range d.cfg.Groups[i].Resources {
			cg.Resources = append(cg.Resources, r.String())
		}
		s.Groups = append(s.Groups, cg)
	}
	for k, v := range d.drops {
		s.Drops[k] = v
	}
	for _, n := range d.mach.Nodes() {
		cn := control.Node{Name: n.Name, Type: "normal", Status: string(n.Status), Local: n.Local,
			Generation: n.Generation, UUID: n.UUID, LastHeard: n.LastHeard, Since: n.Since}
		for _, l := range n.Links {
			cn.Links = append(cn.Links, control.Link{Name: l.Name, Status: l.Status, LastHeard: l.LastHeard})
		}
		s.Nodes = append(s.Nodes, cn)
	}
	for _, m := range d.media {
		s.Media = append(s.Media, control.Medium{Name: m.cfg.Dev, Type: m.cfg.Type, State: m.state, Error: m.err})
	}
	return s
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

// rateLimiter lets one log line per key through per interval.
type rateLimiter struct {
	every time.Duration
	last  map[string]time.Time
	count map[string]int
}

func newRateLimiter(every time.Duration) *rateLimiter {
	return &rateLimiter{every: every, last: map[string]time.Time{}, count: map[string]int{}}
}

func (r *rateLimiter) allow(key string) (bool, int) {
	now := time.Now()
	if len(r.last) > 4096 {
		clear(r.last)
		clear(r.count)
	}
	if t, ok := r.last[key]; ok && now.Sub(t) < r.every {
		r.count[key]++
		return false, 0
	}
	n := r.count[key]
	r.last[key] = now
	r.count[key] = 0
	return true, n
}
