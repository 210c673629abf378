package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// cmdServe is a minimal web server that answers every request with one
// line of text (the serving node's name): the service of the demo and of
// the failover benchmarks, quick to start so that it does not hide what
// the cluster itself costs. With --echo it is a TCP echo server that
// names itself in each answer, for long-lived sessions.
func cmdServe(env *Env, args []string) int {
	fs := newFlags(env, "serve", "[--listen ADDR] [--pidfile FILE] [--echo] TEXT")
	listen := fs.String("listen", ":80", "listen on `ADDR`")
	pidfile := fs.String("pidfile", "", "write the process id to `FILE` once listening")
	echo := fs.Bool("echo", false, "answer each line of a TCP connection with TEXT and the line, instead of HTTP (the server of lubdub probe --echo)")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	text := fs.Arg(0) + "\n"
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(env.Stderr, "lubdub serve: %v\n", err)
		return 1
	}
	if *pidfile != "" {
		if err := os.WriteFile(*pidfile, []byte(fmt.Sprintf("%d\n", os.Getpid())), 0o644); err != nil {
			fmt.Fprintf(env.Stderr, "lubdub serve: writing pid file: %v\n", err)
			return 1
		}
	}
	ctx, stop := signal.NotifyContext(env.Ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *echo {
		if err := serveEcho(ctx, l, fs.Arg(0)); err != nil {
			fmt.Fprintf(env.Stderr, "lubdub serve: %v\n", err)
			return 1
		}
		return 0
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, text)
	})}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(env.Stderr, "lubdub serve: %v\n", err)
		return 1
	}
	return 0
}
