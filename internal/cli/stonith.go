package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/lubdub/lubdub/internal/fence"
	"github.com/lubdub/lubdub/internal/haconf"
)

// stonithOpts is what lubdub stonith's command line says: cluster-glue's
// stonith options (getopt "c:F:p:t:T:EsnSlLmvhVd") plus lubdub's long
// options for configured devices.
type stonithOpts struct {
	count                                int
	file, params, typ                    string
	action                               string // -T
	fromEnv, silent, names, status, list bool
	types, meta, verbose, help, version  bool
	debug                                int
	nv                                   map[string]string // name=value arguments
	node                                 string            // the positional NODE
	config, self, device                 string            // --config, --node, --device
	devices                              bool              // --devices
}

const stonithUsage = `Usage:
  lubdub stonith -L                                       list device types (cluster-glue plugins, fence_* agents)
  lubdub stonith -t TYPE -n | -m                          a type's parameter names | its metadata
  lubdub stonith -t TYPE {-p PARAMS | -F FILE | -E | name=value...} [-s] [-c COUNT] -l | -S | -T reset|off|on NODE
  lubdub stonith [--config DIR] [--node NAME] --devices   the devices this node's configuration defines
  lubdub stonith [--config DIR] [--node NAME] --device NAME -l | -S | -T reset|off|on NODE
  lubdub stonith [--config DIR] [--node NAME] -T reset|off|on NODE
                                                          fence NODE along the configured levels
-L list types   -l list the hosts a device controls   -S device status   -s silent
-T reset|off|on NODE  act on a node   -c COUNT  repeat   -E parameters from the environment
A TYPE is a cluster-glue plugin (used through cluster-glue's stonith command, as Heartbeat's stonith
tool does) or a fence_* agent (its parameters as name=value).
`

// parseStonithArgs reads the command line as cluster-glue's stonith reads
// it with getopt, plus lubdub's long options.
func parseStonithArgs(args []string) (*stonithOpts, error) {
	o := &stonithOpts{count: 1, nv: map[string]string{}, config: defaultConfigDir}
	withArg := "cFptT"
	// As glibc's getopt, options may follow the other arguments, which
	// keep their order; "--" ends the options.
	var positional []string
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			positional = append(positional, args[i+1:]...)
			break
		}
		if strings.HasPrefix(a, "--") {
			name, val, hasVal := strings.Cut(a[2:], "=")
			need := func() (string, error) {
				if hasVal {
					return val, nil
				}
				if i+1 >= len(args) {
					return "", fmt.Errorf("--%s needs a value", name)
				}
				i++
				return args[i], nil
			}
			var err error
			switch name {
			case "config":
				o.config, err = need()
			case "node":
				o.self, err = need()
			case "device":
				o.device, err = need()
			case "devices":
				o.devices = true
			case "help":
				o.help = true
			default:
				return nil, fmt.Errorf("unknown option --%s", name)
			}
			if err != nil {
				return nil, err
			}
			continue
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			positional = append(positional, a)
			continue
		}
		for j := 1; j < len(a); j++ {
			c := a[j]
			var val string
			if strings.IndexByte(withArg, c) >= 0 {
				if j+1 < len(a) {
					val = a[j+1:]
				} else if i+1 < len(args) {
					i++
					val = args[i]
				} else {
					return nil, fmt.Errorf("option -%c needs a value", c)
				}
				j = len(a)
			}
			switch c {
			case 'c':
				n := 0
				if _, err := fmt.Sscan(val, &n); err != nil || n < 1 || n > 1000 {
					return nil, fmt.Errorf("bad count [%s]", val)
				}
				o.count = n
			case 'F':
				o.file = val
			case 'p':
				o.params = val
			case 't':
				o.typ = val
			case 'T':
				if val != "reset" && val != "on" && val != "off" {
					return nil, fmt.Errorf("bad reset type [%s]", val)
				}
				o.action = val
			case 'E':
				o.fromEnv = true
			case 's':
				o.silent = true
			case 'n':
				o.names = true
			case 'S':
				o.status = true
			case 'l':
				o.list = true
			case 'L':
				o.types = true
			case 'm':
				o.meta = true
			case 'v':
				o.verbose = true
			case 'h':
				o.help = true
			case 'V':
				o.version = true
			case 'd':
				o.debug++
			default:
				return nil, fmt.Errorf("unknown option -%c", c)
			}
		}
	}
	// name=value arguments, then at most one node name.
	i = 0
	for ; i < len(positional) && strings.Contains(positional[i], "="); i++ {
		k, v, _ := strings.Cut(positional[i], "=")
		if o.params != "" || o.file != "" || o.fromEnv {
			return nil, errors.New("cannot mix name=value and -p, -F, or -E style arguments")
		}
		o.nv[k] = v
	}
	rest := positional[i:]
	if len(rest) > 1 {
		return nil, fmt.Errorf("one node name expected, got %q", strings.Join(rest, " "))
	}
	if len(rest) == 1 {
		o.node = rest[0]
	}
	n := 0
	for _, b := range []bool{o.file != "", o.params != "", o.fromEnv} {
		if b {
			n++
		}
	}
	if n > 1 {
		return nil, errors.New("please use just one of -F, -p, and -E options")
	}
	if (o.node == "") != (o.action == "") && !o.help && !o.version {
		if o.action == "" {
			return nil, fmt.Errorf("%s: a node name needs -T reset|off|on", o.node)
		}
		return nil, fmt.Errorf("-T %s needs a node name", o.action)
	}
	return o, nil
}

func cmdStonith(env *Env, args []string) int {
	o, err := parseStonithArgs(args)
	if err != nil {
		fmt.Fprintf(env.Stderr, "lubdub stonith: %v\n%s", err, stonithUsage)
		return 1
	}
	if o.help {
		fmt.Fprint(env.Stdout, stonithUsage)
		return 0
	}
	if o.version {
		fmt.Fprintf(env.Stdout, "lubdub stonith %s\n", Version)
		return 0
	}
	level := slog.LevelWarn
	if o.verbose || o.debug > 0 {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: level}))
	r := fence.ExecRunner{Log: log}
	ctx := env.Ctx

	switch {
	case o.types:
		return stonithTypes(env, ctx, r)
	case o.typ != "" && (o.names || o.meta):
		return stonithDescribe(env, ctx, r, o)
	}

	var dev fence.Device
	var fencer *fence.Fencer
	switch {
	case o.typ != "":
		dev, err = adHocDevice(env, ctx, r, o)
	default:
		fencer, err = configuredFencer(o, r, log)
		if err == nil && o.device != "" {
			dev = fencer.Devices[o.device]
			if dev == nil {
				err = fmt.Errorf("no device %s in the configuration (devices: %s)", o.device, strings.Join(fencer.Order, ", "))
			}
		}
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "lubdub stonith: %v\n", err)
		return 1
	}
	if o.devices {
		for _, name := range fencer.Order {
			fmt.Fprintf(env.Stdout, "%s\t%s\n", name, describeDevice(fencer.Devices[name]))
		}
		for _, n := range sortedNodes(fencer.Topology) {
			for _, l := range fencer.Topology[n] {
				fmt.Fprintf(env.Stdout, "level\t%s %d %s\n", n, l.Index, strings.Join(l.Devices, ","))
			}
		}
		return 0
	}
	if dev == nil && (o.list || o.status) {
		fmt.Fprintf(env.Stderr, "lubdub stonith: -l and -S need -t TYPE or --device NAME\n%s", stonithUsage)
		return 1
	}
	if !o.list && !o.status && o.action == "" {
		fmt.Fprintf(env.Stderr, "lubdub stonith: nothing to do: give -l, -S or -T\n%s", stonithUsage)
		return 1
	}
	rc := 0
	for range o.count {
		rc = 0
		if o.status {
			if err := dev.Status(ctx); err != nil {
				fmt.Fprintf(env.Stderr, "%s device not accessible: %v\n", dev.Name(), err)
				rc = exitCode(err)
			} else if !o.silent {
				fmt.Fprintf(env.Stderr, "%s device OK.\n", dev.Name())
			}
		}
		if o.list {
			hosts, err := dev.Hosts(ctx)
			if err != nil {
				fmt.Fprintf(env.Stderr, "Could not list hosts for %s: %v\n", dev.Name(), err)
				rc = exitCode(err)
			}
			for _, h := range hosts {
				fmt.Fprintln(env.Stdout, h)
			}
		}
		if o.action != "" {
			action, _ := fence.ParseAction(o.action)
			node := strings.ToLower(o.node)
			if dev != nil {
				if err := dev.Fence(ctx, node, action); err != nil {
					fmt.Fprintf(env.Stderr, "%v\n", err)
					rc = exitCode(err)
				} else if !o.silent {
					fmt.Fprintf(env.Stderr, "%s: %s %s done.\n", dev.Name(), o.action, node)
				}
			} else {
				res := fencer.Fence(ctx, node, action)
				fmt.Fprintln(env.Stdout, res)
				if !res.OK() {
					rc = exitCode(res.Err)
				}
			}
		}
	}
	return rc
}

// exitCode is lubdub stonith's exit code for an error: the program's
// (cluster-glue's S_* code, an agent's EC_* code) when it gave one, else 1.
func exitCode(err error) int {
	var fe *fence.Error
	if errors.As(err, &fe) && fe.Code > 0 {
		return fe.Code
	}
	return 1
}

func sortedNodes(t fence.Topology) []string {
	var ns []string
	for n := range t {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

func describeDevice(d fence.Device) string {
	for {
		switch x := d.(type) {
		case *fence.Delayed:
			return describeDevice(x.Device) + fmt.Sprintf(", waits %s first", x.Delay)
		case *fence.GlueDevice:
			return "cluster-glue " + x.Type + " (stonith command)"
		case *fence.ExternalScript:
			return "cluster-glue external plugin " + x.ScriptPath() + " (called directly)"
		case *fence.Agent:
			return "fence agent " + x.AgentPath()
		case interface{ Unwrap() fence.Device }:
			d = x.Unwrap()
		default:
			return fmt.Sprintf("%T", d)
		}
	}
}

// configuredFencer builds this node's fencing from the configuration.
func configuredFencer(o *stonithOpts, r fence.Runner, log *slog.Logger) (*fence.Fencer, error) {
	self := strings.ToLower(o.self)
	if self == "" {
		self = hostname()
	}
	c, rep := haconf.Load(o.config, haconf.Options{Node: o.self, Stonith: fence.NewGluePlugins(r)})
	if err := rep.Err(); err != nil {
		return nil, err
	}
	f, err := fence.FromConfig(c, self, r, log)
	if err != nil {
		return nil, err
	}
	if f == nil {
		return nil, fmt.Errorf("%s configures no fencing device for %s (stonith/stonith_host in ha.cf, fence_device in lubdub.cf)", o.config, self)
	}
	return f, nil
}

// adHocDevice is the device -t TYPE and its parameters describe.
func adHocDevice(env *Env, ctx context.Context, r fence.Runner, o *stonithOpts) (fence.Device, error) {
	if strings.HasPrefix(filepath.Base(o.typ), "fence_") {
		if o.params != "" || o.file != "" || o.fromEnv {
			return nil, fmt.Errorf("a fence_* agent takes name=value parameters, not -p, -F or -E")
		}
		return &fence.Agent{DevName: o.typ, Path: o.typ, Options: o.nv, Runner: r}, nil
	}
	g := &fence.GlueDevice{DevName: o.typ, Type: o.typ, Params: o.params, File: o.file, Runner: r}
	switch {
	case len(o.nv) > 0:
		g.Pairs = o.nv
	case o.fromEnv:
		names, err := fence.GlueConfigNames(ctx, r, o.typ)
		if err != nil {
			return nil, err
		}
		g.Pairs = map[string]string{}
		for _, n := range names {
			if v := env.Getenv(n); v != "" {
				g.Pairs[n] = v
			}
		}
	}
	return g, nil
}

func stonithTypes(env *Env, ctx context.Context, r fence.Runner) int {
	types, err := fence.GlueTypes(ctx, r)
	if err != nil {
		fmt.Fprintf(env.Stderr, "lubdub stonith: %v (install Debian's cluster-glue)\n", err)
	}
	for _, t := range types {
		fmt.Fprintln(env.Stdout, t)
	}
	agents, _ := filepath.Glob(filepath.Join(fence.AgentDir, "fence_*"))
	for _, a := range agents {
		if st, err := os.Stat(a); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			fmt.Fprintln(env.Stdout, filepath.Base(a))
		}
	}
	if err != nil && len(agents) == 0 {
		return 1
	}
	return 0
}

func stonithDescribe(env *Env, ctx context.Context, r fence.Runner, o *stonithOpts) int {
	if strings.HasPrefix(filepath.Base(o.typ), "fence_") {
		a := &fence.Agent{DevName: o.typ, Path: o.typ, Runner: r}
		m, err := a.Metadata(ctx)
		if err != nil {
			fmt.Fprintf(env.Stderr, "lubdub stonith: %v\n", err)
			return 1
		}
		for _, p := range m.Parameters {
			if o.names {
				fmt.Fprintf(env.Stdout, "%s  ", p.Name)
			} else {
				req := ""
				if p.Required {
					req = " (required)"
				}
				fmt.Fprintf(env.Stdout, "%s%s: %s\n", p.Name, req, p.Desc)
			}
		}
		if o.names {
			fmt.Fprintln(env.Stdout)
		}
		return 0
	}
	if o.meta {
		out, err := r.Run(ctx, fence.Command{Path: fence.StonithBin, Args: []string{"-t", o.typ, "-m"}, Env: []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, Timeout: 20 * time.Second})
		fmt.Fprint(env.Stdout, out.Stdout)
		if err != nil || out.ExitCode != 0 {
			fmt.Fprintf(env.Stderr, "lubdub stonith: metadata of %s: %v %s\n", o.typ, err, strings.TrimSpace(out.Stderr))
			return 1
		}
		return 0
	}
	names, err := fence.GlueConfigNames(ctx, r, o.typ)
	if err != nil {
		fmt.Fprintf(env.Stderr, "lubdub stonith: %v\n", err)
		return 8
	}
	fmt.Fprintln(env.Stdout, strings.Join(names, "  "))
	return 0
}

// MeatwareDir is where cluster-glue's meatware plugin makes its FIFOs
// (HA_VARRUNDIR: /run on Debian): meatware.NODE.
var MeatwareDir = "/run"

// cmdMeatclient is cluster-glue's meatclient: it tells the meatware plugin
// waiting on NODE's FIFO that an operator has power-cycled NODE, by
// writing "meatware reply NODE" in a 256-byte record, after a yes.
func cmdMeatclient(env *Env, args []string) int {
	fs := newFlags(env, "meatclient", "-c NODE [-w]")
	node := fs.String("c", "", "the `NODE` you power-cycled by hand")
	wait := fs.Bool("w", false, "wait until a meatware request for NODE is pending")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if *node == "" || fs.NArg() != 0 {
		fs.Usage()
		return 1
	}
	host := strings.ToLower(*node)
	if strings.ContainsAny(host, "/\x00") || len(host) > 200 {
		fmt.Fprintf(env.Stderr, "meatclient: %q is not a node name\n", *node)
		return 3
	}
	pipe := filepath.Join(MeatwareDir, "meatware."+host)
	// The question comes before the FIFO is opened: a writer that opens
	// and closes it without a reply ends the plugin's wait with a failed
	// fence (cluster-glue's meatclient opens first, so its "no" does).
	pending := func() error {
		st, err := os.Stat(pipe)
		if err == nil && st.Mode()&os.ModeNamedPipe == 0 {
			return fmt.Errorf("%s is not a FIFO", pipe)
		}
		return err
	}
	waited := false
	for {
		err := pending()
		if err == nil {
			break
		}
		if !*wait || !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(env.Stderr, "Meatware_IPC failed: %s: %v (is a meatware device waiting for %s?)\n", pipe, err, host)
			return 4 // S_BADHOST, as meatclient
		}
		fmt.Fprint(env.Stdout, ".")
		waited = true
		select {
		case <-env.Ctx.Done():
			return 4
		case <-time.After(time.Second):
		}
	}
	if waited {
		fmt.Fprintln(env.Stdout)
	}
	fmt.Fprintf(env.Stdout, "\nWARNING!\n\nIf node %q has not been manually power-cycled or disconnected from all shared resources and networks, data on shared disks may become corrupted and migrated services might not work as expected.\nPlease verify that the name or address above corresponds to the node you just rebooted.\n\nPROCEED? [yN] ", host)
	answer, _ := bufio.NewReader(io.LimitReader(env.Stdin, 1024)).ReadString('\n')
	if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
		fmt.Fprintln(env.Stdout, "Meatware_client: operation canceled.")
		return 3 // S_INVAL
	}
	// The plugin makes the FIFO, then opens it to read: until it does, a
	// writer that will not block gets ENXIO. Bounded: 50 tries, 100 ms apart.
	var f *os.File
	for try := 0; ; try++ {
		var err error
		f, err = os.OpenFile(pipe, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if err == nil {
			break
		}
		if try >= 50 || !errors.Is(err, syscall.ENXIO) {
			fmt.Fprintf(env.Stderr, "Meatware_IPC failed: %s: %v\n", pipe, err)
			return 4
		}
		time.Sleep(100 * time.Millisecond)
	}
	defer f.Close()
	rec := make([]byte, 256)
	copy(rec, "meatware reply "+host)
	if _, err := f.Write(rec); err != nil {
		fmt.Fprintf(env.Stderr, "Meatware_IPC failed: %s: %v\n", pipe, err)
		return 8 // S_OOPS
	}
	fmt.Fprintln(env.Stdout, "Meatware_client: reset confirmed.")
	return 0
}
