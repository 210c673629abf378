package cli

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/lubdub/lubdub/internal/datapath"
	"github.com/lubdub/lubdub/internal/hblog"
	"github.com/lubdub/lubdub/internal/ldirectord"
	"github.com/lubdub/lubdub/internal/lvs"
)

// cmdLdirectord runs an ldirectord.cf in the foreground, without a
// cluster: its virtual services go into the kernel, real servers are
// checked and added or removed, and SIGTERM takes the services out again.
// In a cluster, put ldirectord::FILE in haresources instead.
func cmdLdirectord(env *Env, args []string) int {
	fs := newFlags(env, "ldirectord", "[--check] [--datapath auto|nftables|ipvs] [CONFIG]")
	check := fs.Bool("check", false, "read the configuration, print the table it gives with every real server up, and exit")
	kind := fs.String("datapath", env.Getenv("LUBDUB_DATAPATH"), "kernel data path (default: IPVS if the kernel has it, else nftables)")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() > 1 {
		fs.Usage()
		return 2
	}
	path := "/etc/ha.d/ldirectord.cf"
	if fs.NArg() == 1 {
		path = fs.Arg(0)
		if !filepath.IsAbs(path) {
			if _, err := os.Stat(path); err != nil {
				path = filepath.Join("/etc/ha.d", path)
			}
		}
	}
	cfg, err := ldirectord.ReadFile(path)
	if err != nil {
		fmt.Fprintf(env.Stderr, "lubdub ldirectord: %v\n", err)
		return 1
	}
	for _, n := range cfg.Notes {
		fmt.Fprintf(env.Stderr, "lubdub ldirectord: note: %s\n", n)
	}
	dp, err := datapath.Open(*kind)
	if err != nil {
		fmt.Fprintf(env.Stderr, "lubdub ldirectord: %v\n", err)
		return 1
	}
	defer dp.Close()
	if *check {
		if err := cfg.Check(dp.Name()); err != nil {
			fmt.Fprintf(env.Stderr, "lubdub ldirectord: %v\n", err)
			return 1
		}
		t := &lvs.Table{}
		for _, v := range cfg.Virtuals {
			t.Services = append(t.Services, ldirectord.Service(v, func(ldirectord.ID) bool { return true }))
		}
		fmt.Fprintf(env.Stdout, "# %s on %s, every real server up:\n%s", path, dp.Name(), t.Save())
		return 0
	}
	h, _ := hblog.New(hblog.Options{Stderr: env.Stderr, Entity: "ldirectord"})
	defer h.Close()
	log := slog.New(h)
	ctx, stop := signal.NotifyContext(env.Ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	c := ldirectord.NewChecker(cfg, dp, ldirectord.Check, log)
	if err := c.Start(ctx); err != nil {
		fmt.Fprintf(env.Stderr, "lubdub ldirectord: %v\n", err)
		return 1
	}
	log.Info(fmt.Sprintf("ldirectord: %d virtual services of %s in the kernel (%s); checking", len(cfg.Virtuals), path, dp.Name()))
	c.Run(ctx)
	if err := c.Remove(); err != nil {
		fmt.Fprintf(env.Stderr, "lubdub ldirectord: removing virtual services: %v\n", err)
		return 1
	}
	log.Info("ldirectord: virtual services removed; exiting")
	return 0
}
