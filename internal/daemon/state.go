package daemon

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// nextGeneration raises the generation number kept in dir and returns it.
// It goes up at every start so that peers can tell a restart from a
// replay. With no file yet it starts from the clock, as Heartbeat does, so
// that a node whose state was lost still comes back with a higher number.
func nextGeneration(dir, method string, now time.Time) (uint64, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, fmt.Errorf("creating state directory: %w", err)
	}
	path := filepath.Join(dir, "generation")
	var gen uint64
	if method == "time" {
		gen = uint64(now.Unix())
	} else if b, err := os.ReadFile(path); err == nil {
		n, perr := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if perr != nil {
			return 0, fmt.Errorf("state file %s is damaged (%q): remove it to start over", path, strings.TrimSpace(string(b)))
		}
		gen = n + 1
	} else if os.IsNotExist(err) {
		gen = uint64(now.Unix())
	} else {
		return 0, fmt.Errorf("reading generation: %w", err)
	}
	if err := writeSynced(path, []byte(strconv.FormatUint(gen, 10)+"\n")); err != nil {
		return 0, fmt.Errorf("saving generation: %w", err)
	}
	return gen, nil
}

// nodeUUID returns this node's uuid, creating it on first start.
func nodeUUID(dir string) ([]byte, error) {
	path := filepath.Join(dir, "uuid")
	if b, err := os.ReadFile(path); err == nil {
		u, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(string(b)), "-", ""))
		if err != nil || len(u) != 16 {
			return nil, fmt.Errorf("state file %s is damaged: remove it to get a new node uuid", path)
		}
		return u, nil
	} else if !os.IsNotExist(err) {
		return nil, fmt.Errorf("reading node uuid: %w", err)
	}
	u := make([]byte, 16)
	rand.Read(u)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	if err := writeSynced(path, []byte(hex.EncodeToString(u)+"\n")); err != nil {
		return nil, fmt.Errorf("saving node uuid: %w", err)
	}
	return u, nil
}

func writeSynced(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// heartbeatPeerFile, in the state directory, exists while this node speaks
// Heartbeat's resource protocol to a Heartbeat peer and is removed when it
// leaves cleanly: found at start, it says the last life ended in a crash
// while a Heartbeat node was the peer.
const heartbeatPeerFile = "heartbeat-peer"

// markHeartbeatPeer records whether the peer is a Heartbeat node.
func markHeartbeatPeer(dir string, on bool) error {
	path := filepath.Join(dir, heartbeatPeerFile)
	if !on {
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			return err
		}
		return nil
	}
	return writeSynced(path, []byte("a Heartbeat node was this node's peer; removed at a clean stop\n"))
}

// crashedWithHeartbeatPeer reports whether the last life ended without a
// clean stop while the peer was a Heartbeat node.
func crashedWithHeartbeatPeer(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, heartbeatPeerFile))
	return err == nil
}
