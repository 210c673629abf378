package datapath

import (
	"bytes"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/google/nftables/binaryutil"
	"github.com/lubdub/lubdub/internal/lvs"
	"golang.org/x/sys/unix"
)

// inNewNetns runs f on a thread moved into a fresh network namespace,
// which disappears with the thread.
func inNewNetns(t *testing.T, f func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			t.Errorf("unshare: %v", err)
			return
		}
		f()
	}()
	<-done
}

func apply(t *testing.T, dp DataPath, lines ...string) {
	t.Helper()
	for _, l := range lines {
		c, err := lvs.Parse(strings.Fields(l))
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		var keys []lvs.Key
		if c.Op != lvs.OpClear {
			keys = []lvs.Key{c.Key}
		}
		old, err := dp.Load(keys, false)
		if err != nil {
			t.Fatalf("%s: load: %v", l, err)
		}
		nt := old.Clone()
		if err := nt.Apply(c); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		if err := dp.Sync(old, nt); err != nil {
			t.Fatalf("%s: sync: %v", l, err)
		}
	}
}

func TestNFTRoundTrip(t *testing.T) {
	inNewNetns(t, func() {
		dp, err := OpenNFT()
		if err != nil {
			t.Fatal(err)
		}
		defer dp.Close()
		apply(t, dp,
			"-A -t 198.18.0.10:80 -s rr",
			"-a -t 198.18.0.10:80 -r 198.18.1.2:80 -m",
			"-a -t 198.18.0.10:80 -r 198.18.1.3:8080 -m -w 3",
			"-A -u 198.18.0.10:53 -s sh -p 60",
			"-a -u 198.18.0.10:53 -r 198.18.1.2 -m",
			"-e -t 198.18.0.10:80 -r 198.18.1.2:80 -m -w 0",
			"-E -t 198.18.0.10:80 -s wrr -p 120",
			"-A -t 198.18.0.11:443 -s dh",
			"-d -t 198.18.0.10:80 -r 198.18.1.3:8080",
			"-D -t 198.18.0.11:443",
		)
		got, err := dp.Load(nil, true)
		if err != nil {
			t.Fatal(err)
		}
		want := "-A -t 198.18.0.10:80 -s wrr -p 120\n" +
			"-a -t 198.18.0.10:80 -r 198.18.1.2:80 -m -w 0\n" +
			"-A -u 198.18.0.10:53 -s sh -p 60\n" +
			"-a -u 198.18.0.10:53 -r 198.18.1.2:53 -m -w 1\n"
		if s := got.Save(); s != want {
			t.Errorf("kernel holds\n%s\nwant\n%s", s, want)
		}
		checkSlots(t, dp, got)
		if out, err := exec.Command("nft", "list", "table", "ip", TableName).CombinedOutput(); err == nil {
			t.Logf("nft list:\n%s", out)
		}
		if err := dp.Zero(nil); err != nil {
			t.Fatal(err)
		}
		apply(t, dp, "-C")
		if got, err := dp.Load(nil, false); err != nil || len(got.Services) != 0 {
			t.Errorf("after -C: %v %v", got, err)
		}
	})
}

func TestNFTRefusesWhatItCannotDo(t *testing.T) {
	inNewNetns(t, func() {
		dp, err := OpenNFT()
		if err != nil {
			t.Fatal(err)
		}
		defer dp.Close()
		for _, l := range []string{"-A -t 198.18.0.10:80", "-A -t 198.18.0.10:80 -s lc"} {
			c, _ := lvs.Parse(strings.Fields(l))
			nt := &lvs.Table{}
			if err := nt.Apply(c); err != nil {
				t.Fatal(err)
			}
			err := dp.Sync(&lvs.Table{}, nt)
			if err == nil || !strings.Contains(err.Error(), "give -s rr, wrr, sh or dh") {
				t.Errorf("%s: got %v", l, err)
			}
		}
	})
}

// checkSlots compares each service's slots in the kernel with what its
// scheduler gives (the slots are rewritten one by one, not wholesale).
func checkSlots(t *testing.T, dp *NFT, got *lvs.Table) {
	t.Helper()
	for _, s := range got.Services {
		els, err := dp.conn.GetSetElements(dp.slotsMap(s.Key))
		if err != nil {
			t.Fatal(err)
		}
		have := make([][]byte, SlotCount)
		for _, e := range els {
			have[binaryutil.NativeEndian.Uint32(e.Key)] = e.Val
		}
		for i, want := range slotMarks(s) {
			if !bytes.Equal(have[i], want) {
				t.Fatalf("%s: slot %d holds %x, want %x", s.Key, i, have[i], want)
			}
		}
	}
}

func TestNFTSlotsFollowEdits(t *testing.T) {
	inNewNetns(t, func() {
		dp, err := OpenNFT()
		if err != nil {
			t.Fatal(err)
		}
		defer dp.Close()
		for _, l := range []string{
			"-A -t 198.18.0.10:80 -s wrr",
			"-a -t 198.18.0.10:80 -r 198.18.1.2:80 -m -w 2",
			"-a -t 198.18.0.10:80 -r 198.18.1.3:80 -m -w 3",
			"-a -t 198.18.0.10:80 -r 198.18.1.4:80 -m",
			"-e -t 198.18.0.10:80 -r 198.18.1.3:80 -m -w 0",
			"-d -t 198.18.0.10:80 -r 198.18.1.2:80",
			"-e -t 198.18.0.10:80 -r 198.18.1.3:80 -m -w 5",
			"-E -t 198.18.0.10:80 -s rr",
		} {
			apply(t, dp, l)
			got, err := dp.Load(nil, false)
			if err != nil {
				t.Fatal(err)
			}
			checkSlots(t, dp, got)
		}
	})
}
