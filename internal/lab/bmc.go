package lab

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// IPMISimBin is OpenIPMI's BMC simulator (Debian's openipmi).
const IPMISimBin = "/usr/bin/ipmi_sim"

// BMC is a node's baseboard management controller, simulated by
// OpenIPMI's ipmi_sim in a host of its own on the node's segment (a
// management port), answering IPMI over LAN (1.5 and 2.0) on its address,
// port 623. Its chassis control is a script: power off and reset kill the
// node's guarded processes (SIGKILL, by pid: only those the test gave
// Guard) and cut the node's link, as pulling the power of a real machine
// stops it and silences it; power on only records the event (a test
// brings the node back with Heal and new processes, as a reboot would).
type BMC struct {
	Host     *Host
	Addr     string
	User     string
	Password string
	dir      string
	proc     *Proc
}

// AddBMC starts a BMC for target (whose interface targetIf the power-off
// cuts) as host name, number num on segment. It waits until the BMC
// answers ipmitool, up to 10 s.
func (l *Lab) AddBMC(name string, num int, segment string, target *Host, targetIf string) (*BMC, error) {
	for _, bin := range []string{IPMISimBin, "ipmitool"} {
		if _, err := exec.LookPath(bin); err != nil {
			return nil, fmt.Errorf("%s is not installed (Debian's openipmi and ipmitool): %w", bin, err)
		}
	}
	h, err := l.AddHost(name, num, segment)
	if err != nil {
		return nil, err
	}
	b := &BMC{Host: h, Addr: h.Addr["eth0"], User: "admin", Password: "fence-" + l.ID, dir: filepath.Join(l.Dir, name)}
	if err := os.MkdirAll(filepath.Join(b.dir, "state"), 0o755); err != nil {
		return nil, err
	}
	cut := strings.Join(target.CutCommand(targetIf), " ")
	// ipmi_sim runs "SCRIPT DIR get power" and "SCRIPT DIR set power 0|1",
	// "set reset 1", "set boot ..." (its chassis_control protocol: get
	// prints parm:value lines).
	script := `#!/bin/sh
# chassis control of ` + target.Name + `'s simulated BMC (lubdub's lab)
dir=$1; op=$2; shift 2
power() { cat "$dir/power" 2>/dev/null || echo 1; }
down() {
	if [ -f "$dir/pids" ]; then
		for pid in $(cat "$dir/pids"); do kill -KILL "$pid" 2>/dev/null; done
		: > "$dir/pids"
	fi
	` + cut + `
}
case "$op" in
get)
	for p in "$@"; do
		case "$p" in
		power) echo "power:$(power)" ;;
		boot) echo "boot:default" ;;
		esac
	done ;;
set)
	while [ $# -ge 2 ]; do
		case "$1" in
		power)
			if [ "$2" = 0 ] && [ "$(power)" = 1 ]; then down; echo "off $(date +%s.%N)" >> "$dir/events"; fi
			if [ "$2" = 1 ] && [ "$(power)" = 0 ]; then echo "on $(date +%s.%N)" >> "$dir/events"; fi
			echo "$2" > "$dir/power" ;;
		reset)
			if [ "$2" = 1 ]; then down; echo "reset $(date +%s.%N)" >> "$dir/events"; fi ;;
		esac
		shift 2
	done ;;
*) echo "unknown operation $op"; exit 1 ;;
esac
exit 0
`
	scriptPath := filepath.Join(b.dir, "chassis")
	if err := os.WriteFile(scriptPath, []byte(script), 0o755); err != nil {
		return nil, err
	}
	lan := fmt.Sprintf(`name "%s"
set_working_mc 0x20
  startlan 1
    addr %s 623
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa123456789abcdef
  endlan
  chassis_control "%s %s"
  user 1 true "" "none" user 10 none md2 md5 straight
  user 2 true "%s" "%s" admin 10 none md2 md5 straight
`, name, b.Addr, scriptPath, b.dir, b.User, b.Password)
	emu := "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\nsel_enable 0x20 1000 0x0a\nmc_enable 0x20\n"
	if err := os.WriteFile(filepath.Join(b.dir, "lan.conf"), []byte(lan), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(b.dir, "emu.cmd"), []byte(emu), 0o600); err != nil {
		return nil, err
	}
	b.proc, err = h.Start(name+".log", IPMISimBin, "-c", filepath.Join(b.dir, "lan.conf"), "-f", filepath.Join(b.dir, "emu.cmd"),
		"-s", filepath.Join(b.dir, "state"), "-n", "-p")
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, errOut, code := h.Output(3*time.Second, "ipmitool", "-I", "lan", "-H", b.Addr, "-U", b.User, "-P", b.Password, "power", "status")
		if code == 0 && strings.Contains(out, "Chassis Power is on") {
			return b, nil
		}
		if time.Now().After(deadline) || !b.proc.Running() {
			return nil, fmt.Errorf("BMC %s does not answer: %s %s; ipmi_sim: %s", name, out, errOut, b.proc.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Guard adds processes that power-off and reset kill (by pid).
func (b *BMC) Guard(pids ...int) error {
	f, err := os.OpenFile(filepath.Join(b.dir, "pids"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, p := range pids {
		if p <= 1 {
			return fmt.Errorf("pid %d cannot be guarded", p)
		}
		fmt.Fprintln(f, strconv.Itoa(p))
	}
	return nil
}

// Event is one change of the simulated power.
type Event struct {
	What string // off, on or reset
	At   time.Time
}

// Events lists the power changes so far.
func (b *BMC) Events() []Event {
	data, _ := os.ReadFile(filepath.Join(b.dir, "events"))
	var out []Event
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(l)
		if len(f) != 2 {
			continue
		}
		sec, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			continue
		}
		out = append(out, Event{What: f[0], At: time.Unix(0, int64(sec*1e9))})
	}
	return out
}
