package control

import (
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
