package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lubdub/lubdub/doc"
	"github.com/lubdub/lubdub/internal/haconf"
	"github.com/lubdub/lubdub/internal/haconf/hbdiff"
)

// Every command prints its help for -h and does nothing else, so that
// describe can read it; a flag-set command shows its flags.
func TestDescribe(t *testing.T) {
	docs := describe()
	if len(docs) != len(commands()) {
		t.Fatalf("%d docs for %d commands", len(docs), len(commands()))
	}
	for _, d := range docs {
		_, errOut, code := run(t, "lubdub", d.Name, "-h")
		if code != 0 {
			t.Errorf("lubdub %s -h: exit %d", d.Name, code)
		}
		switch {
		case d.Help != "":
			if !strings.Contains(d.Help, "Usage") {
				t.Errorf("%s: help without a usage: %q", d.Name, d.Help)
			}
		case d.Name == "version":
		default:
			if len(d.Flags) == 0 && d.Synopsis == "" {
				t.Errorf("%s: neither flags nor a synopsis", d.Name)
			}
			for _, f := range d.Flags {
				if !strings.Contains(errOut, "-"+f.Name) {
					t.Errorf("%s: -h does not show -%s", d.Name, f.Name)
				}
			}
		}
	}
}

// The manual pages say every command and every option --help shows, and
// lubdub.cf(5) every setting the parser knows.
func TestManPagesFromTables(t *testing.T) {
	pages := map[string]string{}
	for _, p := range ManPages("2026-01-01") {
		pages[p.File()] = p.Text
	}
	for _, want := range []string{"lubdub.8", "lubdub-lvs.8", "lubdub.cf.5", "lubdub-differences.7"} {
		if pages[want] == "" {
			t.Fatalf("no page %s", want)
		}
	}
	main := pages["lubdub.8"]
	for _, d := range describe() {
		if !strings.Contains(main, `.SS "`) || !strings.Contains(main, roffCode(d.Name)) {
			t.Errorf("lubdub.8 lacks the command %s", d.Name)
		}
		for _, f := range d.Flags {
			if !strings.Contains(main, `\fB`+roffCode(flagName(f))+`\fR`) {
				t.Errorf("lubdub.8 lacks %s's option %s", d.Name, flagName(f))
			}
		}
	}
	for _, l := range linkNames {
		if !strings.Contains(main, ".B "+roffCode(l)) {
			t.Errorf("lubdub.8 lacks the link %s", l)
		}
	}
	if !strings.Contains(pages["lubdub-lvs.8"], roff(strings.Split(lvsHelp, "\n")[1])) {
		t.Error("lubdub-lvs.8 lacks lubdub lvs's help")
	}
	for _, s := range haconf.Settings {
		if !strings.Contains(pages["lubdub.cf.5"], `\fB`+roffCode(s.Name)+`\fR`) {
			t.Errorf("lubdub.cf.5 lacks %s", s.Name)
		}
	}
}

// doc/differences.md, the page's source, names every deliberate
// difference the differential test keeps, in the same words.
func TestDifferencesDocumented(t *testing.T) {
	for name, d := range hbdiff.Deliberate {
		if !strings.Contains(doc.Differences, "`"+name+"`") || !strings.Contains(doc.Differences, d.Why) {
			t.Errorf("doc/differences.md lacks %s: %s", name, d.Why)
		}
	}
	page := differencesPage("")
	for _, want := range []string{".TP\n\\fBha.cf/udpport=65536\\fR\nLubdub: refuses; Heartbeat accepts. Why: a port above 65535",
		`.SS "ldirectord.cf"`, "\\fBpersistent=0\\fR"} {
		if !strings.Contains(page, want) {
			t.Errorf("lubdub-differences.7 lacks %q", want)
		}
	}
}

// Each page renders through man-db and groff without a warning, and
// lexgrog finds its NAME line (as mandb will).
func TestManPagesRender(t *testing.T) {
	for _, tool := range []string{"man", "lexgrog", "groff"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (apt-get install man-db groff-base)", tool)
		}
	}
	dir := t.TempDir()
	render := func(file string) (warnings string) {
		cmd := exec.Command("man", "--warnings", "-E", "UTF-8", "-l", file)
		cmd.Env = append(os.Environ(), "MANWIDTH=80", "LC_ALL=C.UTF-8", "MANPAGER=cat", "PAGER=cat")
		var errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = nil, &errb
		if err := cmd.Run(); err != nil {
			t.Errorf("man -l %s: %v: %s", file, err, errb.String())
		}
		return errb.String()
	}
	// The check itself: a page with an unknown macro draws a warning.
	bad := filepath.Join(dir, "bad.1")
	os.WriteFile(bad, []byte(".TH BAD 1\n.SH NAME\nbad \\- bad\n.SH DESCRIPTION\n.nosuchmacro\n"), 0o644)
	if w := render(bad); !strings.Contains(w, "nosuchmacro") {
		t.Fatalf("man --warnings does not report an unknown macro (got %q)", w)
	}
	for _, p := range ManPages("2026-01-01") {
		file := filepath.Join(dir, p.File())
		if err := os.WriteFile(file, []byte(p.Text), 0o644); err != nil {
			t.Fatal(err)
		}
		if w := render(file); w != "" {
			t.Errorf("%s: warnings:\n%s", p.File(), w)
		}
		out, err := exec.Command("lexgrog", file).CombinedOutput()
		if err != nil || !strings.Contains(string(out), `"`+p.Name+` - `) {
			t.Errorf("lexgrog %s: %v: %s", p.File(), err, out)
		}
	}
}

// bashComplete loads the bash script and completes line (the cursor at
// its end) in dir.
func bashComplete(t *testing.T, script, dir, line string) []string {
	t.Helper()
	prog := `source "$1" || exit 1
COMP_LINE=$2 COMP_POINT=${#2}
read -ra COMP_WORDS <<<"$COMP_LINE"
COMP_CWORD=${#COMP_WORDS[@]}
_lubdub
printf '%s\n' "${COMPREPLY[@]}"`
	cmd := exec.Command("bash", "--norc", "--noprofile", "-c", prog, "bash", script, line)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/nonexistent", "HOME=" + dir}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("completing %q: %v: %s", line, err, out)
	}
	var words []string
	for _, w := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if w != "" {
			words = append(words, w)
		}
	}
	return words
}

// The bash script loads, registers lubdub and its links, and completes
// the commands, options, their values and arguments from the tables.
func TestBashCompletion(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	dir := t.TempDir()
	out, _, code := run(t, "lubdub", "completion", "bash")
	if code != 0 {
		t.Fatalf("lubdub completion bash: exit %d", code)
	}
	script := filepath.Join(dir, "lubdub.bash")
	os.WriteFile(script, []byte(out), 0o644)
	os.Mkdir(filepath.Join(dir, "ha.d"), 0o755)
	os.WriteFile(filepath.Join(dir, "ldirectord.cf"), nil, 0o644)

	reg, err := exec.Command("bash", "--norc", "-c", `source "$1" && complete -p`, "bash", script).CombinedOutput()
	if err != nil {
		t.Fatalf("loading: %v: %s", err, reg)
	}
	for _, name := range append([]string{"lubdub"}, linkNames...) {
		if !strings.Contains(string(reg), "-F _lubdub") || !strings.Contains(string(reg), " "+name+"\n") && !strings.Contains(string(reg), " "+name+" ") {
			t.Errorf("%s is not registered: %s", name, reg)
		}
	}
	var names []string
	for _, c := range commands() {
		names = append(names, c.Name)
	}
	var clSubs []string
	for _, s := range clSubcommands() {
		clSubs = append(clSubs, s.Name)
	}
	for _, c := range []struct {
		line string
		want []string
	}{
		{"lubdub ", names},
		{"lubdub st", []string{"status", "standby", "stonith"}},
		{"lubdub run -", []string{"-c", "--node", "--socket", "--state-dir"}},
		{"lubdub run -c ", []string{"ha.d"}},
		{"lubdub run --socket ldir", []string{"ldirectord.cf"}},
		{"lubdub standby ", []string{"all", "local", "foreign"}},
		{"hb_takeover l", []string{"local"}},
		{"lubdub cleanup ", []string{"all"}},
		{"lubdub ldirectord --datapath ", []string{"auto", "nftables", "ipvs"}},
		{"lubdub ldirectord ldirectord.cf re", []string{"reload", "restart"}},
		{"lubdub demo --part ", []string{"all", "failover", "lvs"}},
		{"lubdub completion ", []string{"bash", "zsh"}},
		{"cl_status ", append(slices.Clone(clSubs), "--socket")},
		{"lubdub cl_status listnodes -", []string{"-p", "-n", "-v"}},
		{"lubdub lvs --st", []string{"--start-daemon", "--stats", "--stop-daemon"}},
		{"ipvsadm --mcast-i", []string{"--mcast-interface"}},
		{"ipvsadm -L --ra", []string{"--rate"}},
		{"lubdub stonith --dev", []string{"--devices", "--device"}},
	} {
		got := bashComplete(t, script, dir, c.line)
		slices.Sort(got)
		want := slices.Clone(c.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%q completes to %q, want %q", c.line, got, want)
		}
	}
}

// The zsh script loads into zsh's completion system and registers lubdub
// and its links.
func TestZshCompletionLoads(t *testing.T) {
	if _, err := exec.LookPath("zsh"); err != nil {
		t.Skip("no zsh (apt-get install zsh)")
	}
	dir := t.TempDir()
	out, _, code := run(t, "lubdub", "completion", "zsh")
	if code != 0 {
		t.Fatalf("lubdub completion zsh: exit %d", code)
	}
	script := filepath.Join(dir, "_lubdub")
	os.WriteFile(script, []byte(out), 0o644)
	prog := `autoload -U compinit && compinit -u -D -d "$2/zcompdump" && source "$1" && for c in lubdub cl_status hb_standby hb_takeover meatclient ipvsadm; do print -r -- "$c=${_comps[$c]}"; done`
	res, err := exec.Command("zsh", "-f", "-c", prog, "zsh", script, dir).CombinedOutput()
	if err != nil {
		t.Fatalf("loading: %v: %s", err, res)
	}
	for _, name := range append([]string{"lubdub"}, linkNames...) {
		if !strings.Contains(string(res), name+"=_lubdub\n") {
			t.Errorf("%s is not registered: %s", name, res)
		}
	}
	if out, err := exec.Command("zsh", "-n", script).CombinedOutput(); err != nil {
		t.Errorf("zsh -n: %v: %s", err, out)
	}
}
