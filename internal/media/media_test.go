package media

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/lubdub/lubdub/internal/haconf"
	"github.com/lubdub/lubdub/internal/wire"
)

func TestFrameReaderSkipsNoise(t *testing.T) {
	in := "garbage\n>>>\nt=status\n<<<\nnoise\n>>>\nt=a\n>>>\nt=b\n<<<\n"
	fr := NewFrameReader(strings.NewReader(in))
	var got []string
	for {
		f, err := fr.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			break
		}
		got = append(got, string(f))
	}
	want := []string{">>>\nt=status\n<<<\n", ">>>\nt=b\n<<<\n"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("frames %q", got)
	}
}

func TestFrameReaderBoundsSize(t *testing.T) {
	big := ">>>\n" + strings.Repeat("x=0123456789\n", wire.MaxMessageSize/10) + "<<<\n>>>\nt=ok\n<<<\n"
	fr := NewFrameReader(strings.NewReader(big))
	if _, err := fr.Next(); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("err = %v, want ErrFrameTooLarge", err)
	}
	f, err := fr.Next()
	if err != nil || string(f) != ">>>\nt=ok\n<<<\n" {
		t.Fatalf("after oversize frame: %q, %v", f, err)
	}
}

func FuzzFrameReader(f *testing.F) {
	f.Add([]byte(">>>\nt=status\n<<<\n"))
	f.Add([]byte("x\n>>>\n" + strings.Repeat("y", 5000) + "\n<<<\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr := NewFrameReader(bytes.NewReader(b))
		for i := 0; i < 1000; i++ {
			fr2, err := fr.Next()
			if err != nil {
				if errors.Is(err, ErrFrameTooLarge) {
					continue
				}
				return
			}
			if !bytes.HasPrefix(fr2, []byte(">>>\n")) || !bytes.HasSuffix(fr2, []byte("<<<\n")) {
				t.Fatalf("bad frame %q", fr2)
			}
		}
	})
}

// The serial medium sends and receives classic frames over a real tty (a
// pseudo-terminal pair).
func TestSerialOverPty(t *testing.T) {
	master, slave, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer master.Close()
	defer slave.Close()
	recv := make(chan Packet, 4)
	m, err := Open(haconf.Medium{Type: "serial", Dev: slave.Name()}, 19200, recv, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Format() != wire.Classic || m.Link() != slave.Name() {
		t.Fatalf("format %v link %s", m.Format(), m.Link())
	}
	frame := []byte(">>>\nt=status\nsrc=bravo\n<<<\n")
	if _, err := master.Write(append([]byte("line noise\n"), frame...)); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-recv:
		if !bytes.Equal(p.Data, frame) || p.Link != slave.Name() {
			t.Fatalf("received %q on %s", p.Data, p.Link)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no frame received from the pty")
	}
	out := []byte(">>>\nt=status\nsrc=alpha\n<<<\n")
	if err := m.Send(out); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 0, len(out))
	buf := make([]byte, 256)
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < len(out) && time.Now().Before(deadline) {
		master.SetReadDeadline(deadline)
		n, err := master.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:n]...)
	}
	if !bytes.Equal(got, out) {
		t.Fatalf("master read %q", got)
	}
}

func TestMissingDevicesAreClearErrors(t *testing.T) {
	recv := make(chan Packet)
	log := slog.New(slog.DiscardHandler)
	_, err := Open(haconf.Medium{Type: "serial", Dev: "/dev/ttyNOPE9"}, 19200, recv, log)
	if err == nil || !strings.Contains(err.Error(), "/dev/ttyNOPE9 does not exist") {
		t.Fatalf("err = %v", err)
	}
	_, err = Open(haconf.Medium{Type: "bcast", Dev: "nope9", Port: 694}, 0, recv, log)
	if err == nil || !strings.Contains(err.Error(), "interface nope9 does not exist") {
		t.Fatalf("err = %v", err)
	}
}
