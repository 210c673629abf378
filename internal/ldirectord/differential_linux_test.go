package ldirectord

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// ldirectordBin is Debian's ldirectord (apt-get install ldirectord).
const ldirectordBin = "/usr/sbin/ldirectord"

// ldVerdict is what ldirectord's read_config said of a file: accepted, or
// its (first: it stops there) error's line and message.
type ldVerdict struct {
	OK   bool
	Line int
	Msg  string
	Out  string
}

var ldErrorRE = regexp.MustCompile(`Error \[\d+\] reading file .* at line (\d+): (.*)`)

// runLdirectord asks ldirectord itself to read a file: "ldirectord -d
// FILE status" reads the configuration and, with none running, exits 3
// (2 on a configuration error) without touching the kernel or its log
// file. It runs in a network namespace of its own, so that a name it
// looks up never reaches DNS and nothing leaves the machine.
//
// Its verdicts are kept (verdictCache): the same file read by the same
// ldirectord, with the same /etc/hosts and /etc/services, gets the same
// verdict, and each run costs over a second of Perl start-up (many more
// on a loaded machine), which mutation testing pays for every mutant.
func runLdirectord(t *testing.T, file string) ldVerdict {
	t.Helper()
	text, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	cache := verdictCache(t)
	key := cacheKey(t, text)
	if cache != "" {
		if b, err := os.ReadFile(filepath.Join(cache, key)); err == nil {
			var v ldVerdict
			if json.Unmarshal(b, &v) == nil {
				return v
			}
		}
	}
	v := runLdirectordNow(t, file)
	if cache != "" {
		b, _ := json.Marshal(v)
		tmp := filepath.Join(cache, key+fmt.Sprintf(".%d.tmp", os.Getpid()))
		if os.WriteFile(tmp, b, 0o644) == nil {
			os.Rename(tmp, filepath.Join(cache, key))
		}
	}
	return v
}

// verdictCache is the directory of ldirectord's verdicts
// (lubdub-ldirectord in the user's cache directory), "" when
// LUBDUB_LDIRECTORD_CACHE=off or it cannot be made.
func verdictCache(t *testing.T) string {
	if os.Getenv("LUBDUB_LDIRECTORD_CACHE") == "off" {
		return ""
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	d = filepath.Join(d, "lubdub-ldirectord")
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Logf("no cache of ldirectord's verdicts: %v", err)
		return ""
	}
	return d
}

var (
	inputsOnce sync.Once
	inputsHash []byte
)

// cacheKey names a file's verdict: a hash of ldirectord itself, the
// files it resolves names with, and the file.
func cacheKey(t *testing.T, text []byte) string {
	inputsOnce.Do(func() {
		h := sha256.New()
		for _, f := range []string{ldirectordBin, "/etc/hosts", "/etc/services"} {
			b, _ := os.ReadFile(f)
			fmt.Fprintf(h, "%s %d\n", f, len(b))
			h.Write(b)
		}
		inputsHash = h.Sum(nil)
	})
	h := sha256.New()
	h.Write(inputsHash)
	h.Write(text)
	return hex.EncodeToString(h.Sum(nil))
}

// runLdirectordNow runs ldirectord on the file.
func runLdirectordNow(t *testing.T, file string) ldVerdict {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "--net", ldirectordBin, "-d", file, "status")
	out, err := cmd.CombinedOutput()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running ldirectord: %v", err)
	}
	v := ldVerdict{Out: string(out)}
	switch code {
	case 3:
		v.OK = true
	case 2:
		m := ldErrorRE.FindStringSubmatch(string(out))
		if m == nil {
			t.Fatalf("ldirectord exit 2 without a configuration error:\n%s", out)
		}
		fmt.Sscan(m[1], &v.Line)
		v.Msg = strings.TrimSpace(m[2])
	default:
		t.Fatalf("ldirectord exit %d:\n%s", code, out)
	}
	return v
}

func needLdirectord(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (ldirectord runs in a network namespace of its own)")
	}
	if _, err := os.Stat(ldirectordBin); err != nil {
		t.Skip("Debian's ldirectord is not installed (apt-get install ldirectord)")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare (util-linux) is needed")
	}
}

// agree compares lubdub's reading of a file with ldirectord's: both
// accept it, or lubdub reports (among every problem of the file) the one
// ldirectord stops at, at its line and in its words. lubdub is stricter
// or more lenient than ldirectord only where the case says so (why).
func agree(t *testing.T, name, text string, ld ldVerdict, differs string) {
	t.Helper()
	_, err := ParseWith(name, strings.NewReader(text), fileResolver{})
	var es Errors
	errors.As(err, &es)
	switch {
	case differs != "":
		same := (err == nil) == ld.OK
		if same && ld.OK {
			t.Errorf("%s: both accept it, but the case says lubdub differs (%s)", name, differs)
		}
	case ld.OK && err != nil:
		t.Errorf("%s: ldirectord accepts it, lubdub says:\n%v", name, err)
	case !ld.OK && err == nil:
		t.Errorf("%s: ldirectord refuses it (line %d: %s), lubdub accepts it", name, ld.Line, ld.Msg)
	case !ld.OK:
		found := false
		for _, e := range es {
			found = found || e.Line == ld.Line && strings.Contains(normal(e.Msg), normal(ld.Msg))
		}
		if !found {
			t.Errorf("%s: ldirectord says line %d: %s; lubdub says:\n%v", name, ld.Line, ld.Msg, err)
		}
	}
}

// normal drops quotes and extra blanks: ldirectord quotes the raw line
// of an unknown command (tab, newline and all).
func normal(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, `"`, "")), " ")
}

// full is set to run every generated case through ldirectord (each run
// takes over a second of Perl start-up); by default the cases both
// accept run as one file and a sample of the refused ones one by one.
var full = os.Getenv("LUBDUB_LDIRECTORD_DIFF") == "full"

// stricter lists the testdata files lubdub reads otherwise than
// ldirectord on purpose, with why; lubdub reports each in plain words.
var stricter = map[string]string{
	"virtual6-refused.cf": "lubdub has no IPv6 virtual services",
}

// Every testdata/parse file, read by ldirectord itself and by lubdub.
func TestParseFilesAgainstLdirectord(t *testing.T) {
	needLdirectord(t)
	files, _ := filepath.Glob("testdata/parse/*.cf")
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	for _, f := range files {
		abs, _ := filepath.Abs(f)
		text, err := os.ReadFile(abs)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ld := runLdirectord(t, abs)
			name := filepath.Base(f)
			if name == "errors-all-in-file-order.cf" && !ld.OK {
				// ldirectord stops at the first error: line 3.
				if ld.Line != 3 || ld.Msg != "invalid check timeout value" {
					t.Errorf("%s: ldirectord says line %d: %s", name, ld.Line, ld.Msg)
				}
			}
			agree(t, name, string(text), ld, stricter[name])
		}()
	}
	wg.Wait()
}

// One directive at a time, each value form, globally and in a virtual
// service: lubdub accepts what ldirectord's read_config accepts and
// refuses what it refuses, at the same line, in its words. Cases where
// lubdub is more lenient on purpose say so.
func TestDirectivesAgainstLdirectord(t *testing.T) {
	needLdirectord(t)
	const head = "virtual=198.18.16.2:80\n\treal=198.18.16.11:80 masq\n"
	type tc struct {
		name, text, differs string
		scope, directive    string // of generated cases
	}
	var cases []tc
	global := func(d, differs string) {
		cases = append(cases, tc{"global " + d, d + "\n" + head, differs, "global", d})
	}
	inVirtual := func(d, differs string) {
		cases = append(cases, tc{"virtual " + d, head + "\t" + d + "\n", differs, "virtual", d})
	}
	for _, d := range []string{"checktimeout=3", "checktimeout=0", "checktimeout=x", "negotiatetimeout=9", "negotiatetimeout=none",
		"checkinterval=2", "checkinterval=0", "checkcount=2", "checkcount=0", "failurecount=3", "failurecount=0",
		"fallback=198.18.16.1:80 masq", "fallback=198.18.16.1", "fallback=198.18.16.1:80 nat", "fallbackcommand=/bin/true",
		"autoreload=yes", "autoreload=maybe", `callback="/bin/true"`, `logfile="/dev/null"`, "execute=other.cf", "fork=yes", "fork=1",
		"supervised=yes", "supervised", "supervised=maybe", "quiescent=yes", "quiescent=1", "readdquiescent=no", "readdquiescent=x",
		`emailalert="root@localhost"`, "emailalertfreq=60", "emailalertfreq=often", "emailalertstatus=all",
		"emailalertstatus=starting,running", "emailalertstatus=none,running", "emailalertstatus=bogus", "emailalertfrom=root@localhost",
		"cleanstop=no", "cleanstop=x", "smtp=localhost", "maintenancedir=/nonexistent", "timeout=3", "frobnicate=1"} {
		global(d, "")
	}
	global("connecttimeout=3", "ldirectord refuses the deprecated directive; lubdub reads it as negotiatetimeout, with a note")
	for _, d := range []string{`request="/index.html"`, `request=""`, `receive="ok"`, `receive=""`, "checktype=connect",
		"checktype=negotiate", "checktype=ping", "checktype=on", "checktype=off", "checktype=external", "checktype=external-perl",
		"checktype=3", "checktype=sometimes", `checkcommand="/bin/true"`, "checkcommand=/bin/true", "checktimeout=2",
		"checktimeout=0", "negotiatetimeout=2", "checkcount=2", "failurecount=2", "failurecount=x", "checkinterval=3",
		"checkport=8080", "checkport=0", "checkport=70000", "checkport=x", `login="u"`, `login=""`, `passwd="p"`,
		`database="d"`, `secret="s"`, `load="cpu"`, "scheduler=rr", "scheduler=wlc", "scheduler=RR", "persistent=300",
		"persistent=x", "schedflags=sh-fallback", "netmask=255.255.255.0", "netmask=24", "protocol=tcp", "protocol=udp",
		"protocol=fwm", "ops=no", "ops=yes", "ops=maybe", "service=http", "service=https", "service=simpletcp", "service=mysql",
		"service=gopher", "httpmethod=GET", "httpmethod=head", "httpmethod=POST", "virtualhost=www.example.com",
		`virtualhost="www.example.com"`, "fallback=198.18.16.1:80 masq", "fallback=198.18.16.1 gate", "fallback=198.18.16.1 nat",
		"fallback6=[::1]:80", "fallbackcommand=/bin/true", "quiescent=yes", "quiescent=maybe", `emailalert="root@localhost"`,
		"emailalertfreq=60", "emailalertstatus=all", "emailalertstatus=bogus", "monitorfile=/dev/null", "cleanstop=no",
		"cleanstop=x", "smtp=localhost", "servicename=web site", "comment=front page, ask ops", "frobnicate=1",
		"real=198.18.16.12:80 gate", "real=198.18.16.12 ipip 5", `real=198.18.16.12:8080 masq 2 "/alive", "OK"`,
		"real=198.18.16.12->198.18.16.14:80 masq", "real=198.18.16.12:80", "real=198.18.16.12:80 nat", "real=198.18.16.12:80 masq x",
		"real=198.18.16.12:http masq", "real=localhost:80 masq", "real6=[::1]:80 masq"} {
		inVirtual(d, "")
	}
	inVirtual("scheduler=nosuch", "ldirectord takes any lowercase word and leaves ipvsadm to fail at start; lubdub names IPVS's schedulers now")
	inVirtual("persistent=0", "ldirectord passes -p 0 for ipvsadm to refuse at start; lubdub refuses it now")
	inVirtual("connecttimeout=3", "ldirectord refuses the deprecated directive; lubdub reads it as negotiatetimeout, with a note")
	cases = append(cases, []tc{
		{name: "virtual= with a service name", text: "virtual=198.18.16.2:www\n\treal=198.18.16.11:80 masq\n"},
		{name: "virtual= with a host name", text: "virtual=localhost:80\n\treal=198.18.16.11:80 masq\n"},
		{name: "virtual= with an unknown service", text: "virtual=198.18.16.2:nosuchservice\n\treal=198.18.16.11:80 masq\n"},
		{name: "virtual= with a firewall mark", text: "virtual=42\n\treal=198.18.16.11:80 gate\n"},
		{name: "virtual= with garbage", text: "virtual=@@\n"},
		{name: "virtual= with an IPv6 address", text: "virtual=[::1]:80\n"},
		{name: "virtual= without a port", text: "virtual=198.18.16.2\n\treal=198.18.16.11:80 gate\n",
			differs: "ldirectord reads the leading 198 as firewall mark 198; lubdub asks for a port"},
		{name: "a blank line inside a service", text: "virtual=198.18.16.2:80\n\treal=198.18.16.11:80 masq\n\n\tscheduler=rr\n",
			differs: "ldirectord ends the service at a blank line and refuses the indented line after it; lubdub keeps reading the service"},
		{name: "a comment after a global directive", text: "quiescent=no # default\n" + head,
			differs: "ldirectord strips no comment after a global directive, so 'no # default' is not 'no'; lubdub strips it"},
	}...)
	dir := t.TempDir()
	// The cases lubdub accepts (and ldirectord should) go into one file,
	// each global directive on its line, each service directive in a
	// service of its own; ldirectord reading it whole means it accepts
	// each.
	var batch strings.Builder
	lineOf := map[int]string{}
	var single []tc
	n, batched := 0, 0
	emit := func(name, text string) {
		for _, l := range strings.SplitAfter(text, "\n") {
			if l == "" {
				continue
			}
			n++
			lineOf[n] = name
			batch.WriteString(l)
		}
	}
	for i, c := range cases {
		_, err := ParseWith(c.name, strings.NewReader(c.text), fileResolver{})
		switch {
		case err != nil || c.differs != "" || c.scope == "":
			if full || err == nil || i%5 == 0 || c.differs != "" {
				single = append(single, c)
			}
		case c.scope == "global":
			batched++
			emit(c.name, c.directive+"\n")
		default:
			batched++
			emit(c.name, fmt.Sprintf("virtual=198.18.16.2:%d\n\treal=198.18.16.11:80 masq\n\t%s\n", 1000+i, c.directive))
		}
	}
	emit("the services", head)
	file := filepath.Join(dir, "accepted.cf")
	if err := os.WriteFile(file, []byte(batch.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseWith("accepted.cf", strings.NewReader(batch.String()), fileResolver{}); err != nil {
		t.Errorf("lubdub refuses the cases it accepts one by one, put together:\n%v", err)
	}
	if ld := runLdirectord(t, file); !ld.OK {
		t.Errorf("%s: lubdub accepts it, ldirectord refuses it (line %d: %s)", lineOf[ld.Line], ld.Line, ld.Msg)
	}
	t.Logf("%d cases: %d accepted by lubdub, read by ldirectord in one file; %d run one by one (LUBDUB_LDIRECTORD_DIFF=full runs every refused case)",
		len(cases), batched, len(single))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	for i, c := range single {
		file := filepath.Join(dir, fmt.Sprintf("case%03d.cf", i))
		if err := os.WriteFile(file, []byte(c.text), 0o644); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			agree(t, c.name, c.text, runLdirectord(t, file), c.differs)
		}()
	}
	wg.Wait()
}
