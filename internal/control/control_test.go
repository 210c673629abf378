package control

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestSocketModeAndRoundTrip(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "sub", "lubdub.sock")
	srv, err := Listen(sock, func(r Request) Response { return Response{Value: "v:" + r.Name} }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	st, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 || st.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket mode %v, want 0600 socket", st.Mode())
	}
	r, err := Call(sock, Request{Cmd: "param", Name: "x"}, time.Second)
	if err != nil || r.Value != "v:x" {
		t.Fatalf("call: %v %v", r, err)
	}
	if _, err := Listen(sock, nil, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "is in use") {
		t.Fatalf("second Listen: %v", err)
	}
}

// Other users are refused even if the socket's mode is loosened by hand.
func TestOtherUsersRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to act as another user")
	}
	socat, err := exec.LookPath("socat")
	if err != nil {
		t.Skip("needs socat")
	}
	dir, err := os.MkdirTemp("", "lubdub-ctl")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	sock := filepath.Join(dir, "lubdub.sock")
	srv, err := Listen(sock, func(Request) Response { return Response{Value: "secret"} }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	os.Chmod(sock, 0o666)
	cmd := exec.Command(socat, "-t2", "-", "UNIX-CONNECT:"+sock)
	cmd.Stdin = strings.NewReader(`{"cmd":"status"}` + "\n")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var errb strings.Builder
	cmd.Stderr = &errb
	out, _ := cmd.Output()
	if strings.Contains(string(out), "secret") || !strings.Contains(string(out), "uid 65534 may not use the control socket") {
		t.Fatalf("nobody got %q (socat: %s)", out, errb.String())
	}
}

// A stream request gets one JSON line per value until the handler ends it;
// a client that goes away is seen by the handler; an error ends a stream.
func TestStream(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "lubdub.sock")
	srv, err := Listen(sock, func(r Request) Response { return Response{Value: "plain"} }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	hungUp := make(chan struct{})
	srv.Stream("count", func(r Request, send func(any) error, done <-chan struct{}) {
		switch r.Name {
		case "three":
			for i := 1; i <= 3; i++ {
				send(map[string]int{"n": i})
			}
		case "forever":
			for i := 0; ; i++ {
				select {
				case <-done:
					close(hungUp)
					return
				case <-time.After(5 * time.Millisecond):
				}
				if send(map[string]int{"n": i}) != nil {
					close(hungUp)
					return
				}
			}
		default:
			send(Response{Error: "no such count"})
		}
	})
	var got []string
	err = Stream(context.Background(), sock, Request{Cmd: "count", Name: "three"}, func(l []byte) error {
		got = append(got, string(l))
		return nil
	})
	if !errors.Is(err, ErrStreamEnded) || strings.Join(got, " ") != `{"n":1} {"n":2} {"n":3}` {
		t.Fatalf("stream: %q %v", got, err)
	}
	if err := Stream(context.Background(), sock, Request{Cmd: "count", Name: "x"}, func([]byte) error { return nil }); err == nil || err.Error() != "no such count" {
		t.Fatalf("an error in a stream: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err = Stream(ctx, sock, Request{Cmd: "count", Name: "forever"}, func([]byte) error {
		if n++; n == 3 {
			cancel()
		}
		return nil
	})
	if err != nil {
		t.Fatalf("a cancelled stream: %v", err)
	}
	select {
	case <-hungUp:
	case <-time.After(3 * time.Second):
		t.Fatal("the handler did not see the client leave")
	}
	if r, err := Call(sock, Request{Cmd: "status"}, time.Second); err != nil || r.Value != "plain" {
		t.Fatalf("a plain request beside streams: %v %v", r, err)
	}
	if err := Stream(context.Background(), filepath.Join(t.TempDir(), "none.sock"), Request{Cmd: "count"}, nil); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("no daemon: %v", err)
	}
}
