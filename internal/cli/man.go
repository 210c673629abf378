package cli

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/lubdub/lubdub/doc"
	"github.com/lubdub/lubdub/internal/control"
	"github.com/lubdub/lubdub/internal/haconf"
)

// ManPage is one manual page, in roff (man macros).
type ManPage struct {
	Name    string // lubdub, lubdub.cf, ...
	Section int
	Text    string
}

// File is the page's file name: lubdub.8.
func (p ManPage) File() string { return fmt.Sprintf("%s.%d", p.Name, p.Section) }

// ManPages renders lubdub's manual pages: lubdub(8) from the command table
// and each command's -h (describe), lubdub-lvs(8) from lubdub lvs's help,
// lubdub.cf(5) from haconf.Settings, lubdub-differences(7) from
// doc/differences.md. date (YYYY-MM-DD) is the pages' date; "" leaves it
// out.
func ManPages(date string) []ManPage {
	docs := describe()
	return []ManPage{
		{"lubdub", 8, lubdubPage(date, docs)},
		{"lubdub-lvs", 8, lvsPage(date)},
		{"lubdub.cf", 5, lubdubCfPage(date)},
		{"lubdub-differences", 7, differencesPage(date)},
	}
}

// roff escapes text for a roff line: backslashes, and a leading dot or
// apostrophe that would make the line a request.
func roff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

// roffCode escapes text set in bold as code: its hyphens are minus signs
// (options, as typed).
func roffCode(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\e`), "-", `\-`)
}

func th(b *strings.Builder, name string, section int, date, title string) {
	fmt.Fprintf(b, ".\\\" Generated from lubdub's sources (internal/cli/man.go); do not edit.\n")
	fmt.Fprintf(b, ".TH %s %d %q %q %q\n", strings.ToUpper(name), section, date, "lubdub "+Version, title)
}

// nf writes a block as it is (no filling), each line escaped.
func nf(b *strings.Builder, text string) {
	b.WriteString(".PP\n.RS 4\n.nf\n")
	for _, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		l = strings.ReplaceAll(l, "\t", "        ")
		fmt.Fprintln(b, roff(l))
	}
	b.WriteString(".fi\n.RE\n")
}

// synopsisRoff sets a synopsis: options and literal words bold,
// placeholders italic.
func synopsisRoff(s string) string {
	var out []string
	for _, w := range strings.Fields(s) {
		core := strings.Trim(w, "[]")
		pre := w[:strings.Index(w, core)]
		post := w[len(pre)+len(core):]
		var parts []string
		for _, alt := range strings.Split(core, "|") {
			if alt != "" && strings.ToUpper(alt) == alt && !strings.HasPrefix(alt, "-") {
				parts = append(parts, `\fI`+roff(alt)+`\fR`)
			} else {
				parts = append(parts, `\fB`+roffCode(alt)+`\fR`)
			}
		}
		out = append(out, roff(pre)+strings.Join(parts, "|")+roff(post))
	}
	return strings.Join(out, " ")
}

func lubdubPage(date string, docs []cmdDoc) string {
	var b strings.Builder
	th(&b, "lubdub", 8, date, "System Administration")
	b.WriteString(`.SH NAME
lubdub \- high-availability cluster daemon, a drop-in successor to Heartbeat
.SH SYNOPSIS
.B lubdub
.I command
.RI [ options ]
.br
.B cl_status
.I sub-command
.RI [ options ]
.br
.BR hb_standby " | " hb_takeover
.RB [ all | local | foreign ]
.SH DESCRIPTION
.B lubdub
runs a node of a Heartbeat cluster: it reads Heartbeat's configuration
directory as it is
.RI ( /etc/ha.d/ha.cf ,
.IR authkeys ,
.IR haresources ,
and its own optional
.IR lubdub.cf ),
speaks Heartbeat 3.0.6's wire protocol, so that lubdub and Heartbeat nodes
form one cluster, moves resource groups between nodes, and answers
.B cl_status
as Heartbeat does. Its LVS director takes ipvsadm's commands
.RB ( "lubdub lvs" ,
see
.BR lubdub\-lvs (8))
and ldirectord's configuration.
.PP
Each command below parses its own options;
.B "lubdub \fIcommand\fP \-h"
prints them. Invoked through a link named after a command or a Heartbeat
tool, the binary behaves as that command:
`)
	links := aliasTargets()
	for _, l := range linkNames {
		fmt.Fprintf(&b, ".TP\n.B %s\nas \\fBlubdub %s\\fR", roffCode(l), links[l])
		switch l {
		case "ipvsadm":
			b.WriteString(" (installed as an alternative only where Debian's ipvsadm is not)")
		case "meatclient":
			b.WriteString(" (installed as an alternative only where cluster-glue's meatclient is not)")
		}
		b.WriteString("\n")
	}
	b.WriteString(".SH COMMANDS\n")
	for _, d := range docs {
		if d.Help != "" {
			fmt.Fprintf(&b, ".SS \"lubdub %s\"\n%s\n", roffCode(d.Name), sentence(d.Summary))
			nf(&b, d.Help)
			continue
		}
		syn := strings.TrimSpace("lubdub " + d.Name + " " + d.Synopsis)
		fmt.Fprintf(&b, ".SS \"%s\"\n%s\n", strings.ReplaceAll(synopsisRoff(syn), `"`, `\(dq`), sentence(d.Summary))
		values, _ := synopsisArgs(d.Synopsis, func(string) bool { return true })
		for _, f := range d.Flags {
			placeholder, usage := flagUsage(f)
			fmt.Fprintf(&b, ".TP\n\\fB%s\\fR", roffCode(flagName(f)))
			if v := values[f.Name]; takesValue(f) && v != nil && len(v.Words) > 0 {
				fmt.Fprintf(&b, " \\fB%s\\fR", roffCode(strings.Join(v.Words, "|")))
			} else if takesValue(f) {
				fmt.Fprintf(&b, " \\fI%s\\fR", roff(placeholder))
			}
			b.WriteString("\n" + roff(usage))
			if def := f.DefValue; def != "" && def != "0" && def != "0s" && def != "false" {
				fmt.Fprintf(&b, " (default: \\fB%s\\fR)", roffCode(def))
			}
			b.WriteString(".\n")
		}
	}
	fmt.Fprintf(&b, `.SH FILES
.TP
.I /etc/ha.d/ha.cf
Heartbeat's main configuration: nodes, media, timings (see Heartbeat's documentation; the
differences are in
.BR lubdub\-differences (7)).
.TP
.I /etc/ha.d/authkeys
The keys that sign every message; readable by its owner only.
.TP
.I /etc/ha.d/haresources
The resource groups and their preferred nodes.
.TP
.I /etc/ha.d/lubdub.cf
lubdub's own settings (optional), see
.BR lubdub.cf (5).
.TP
.I /etc/default/lubdub
CONFDIR and LUBDUB_OPTS for the init script and the systemd unit.
.TP
.I /var/lib/lubdub
The node's generation number and uuid, kept across restarts.
.TP
.I %s
The control socket (mode 0600; root and the daemon's owner only).
.SH ENVIRONMENT
.TP
.B LUBDUB_SOCKET
The control socket the client commands use when
.B \-\-socket
is not given.
.TP
.B LUBDUB_DATAPATH
.BR nftables " or " ipvs :
the kernel data path of
.B lubdub lvs
and
.BR "lubdub ldirectord" .
.TP
.BR NOTIFY_SOCKET ", " WATCHDOG_USEC
Set by systemd for a unit of Type=notify:
.B lubdub run
sends READY=1 once the node has joined the cluster (every node heard from,
or declared dead after initdead), RELOADING=1 then READY=1 around a reload
(SIGHUP), STATUS= naming the resource groups held here, and, with
WatchdogSec=, WATCHDOG=1 from its main loop every half of it.
.SH SIGNALS
.TP
.B SIGHUP
.B lubdub run
re-reads the configuration; a broken one is refused and the running one kept.
.TP
.BR SIGTERM ", " SIGINT
Give up the resource groups held here, tell the other nodes, and stop; a
second one stops at once, the groups as they are.
.SH "EXIT STATUS"
0 on success, 1 on failure, 2 for a bad command line;
.B lubdub run
exits 6 when the configuration is broken (LSB's "not configured"), the
client commands 3 when no daemon answers.
.B cl_status
and
.B "lubdub lvs"
exit as Heartbeat's cl_status and ipvsadm do.
.SH "SEE ALSO"
.BR lubdub.cf (5),
.BR lubdub\-lvs (8),
.BR lubdub\-differences (7),
.BR heartbeat (8),
.BR cl_status (1),
.BR ldirectord (8),
.BR systemd.service (5)
`, control.DefaultSocket)
	return b.String()
}

// sentence is a summary as a roff sentence: the table's words, ending in
// a full stop.
func sentence(s string) string {
	s = roff(s)
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func lvsPage(date string) string {
	var b strings.Builder
	th(&b, "lubdub-lvs", 8, date, "System Administration")
	b.WriteString(`.SH NAME
lubdub\-lvs \- ipvsadm's command line for virtual services in the kernel, on nftables or IPVS
.SH SYNOPSIS
.B lubdub lvs
.RI [ "ipvsadm options" ]
.br
.B ipvsadm
.RI [ "ipvsadm options" ]
.SH DESCRIPTION
.B lubdub lvs
takes ipvsadm 1.31's commands, options, messages, exit codes and output
layouts, and puts the virtual services in the kernel: through IPVS where the
kernel has it, else through nftables (a table
.B ip lubdub
that only lubdub writes). Like ipvsadm it needs no daemon: each command
reads the service it touches from the kernel, changes it and writes the
difference back;
.B \-R
writes the whole file as one transaction, or nothing. Where Debian's
ipvsadm is not installed, the package makes
.B ipvsadm
an alternative that runs
.BR "lubdub lvs" .
.PP
Its help, as
.B "lubdub lvs \-h"
prints it:
`)
	nf(&b, lvsHelp)
	b.WriteString(`.SH "DATA PATH"
On nftables, the schedulers are rr, wrr, sh and dh (lc, wlc and the other
connection-counting ones need IPVS, since nftables cannot see connection
counts when it picks a server), forwarding is masquerading
.RB ( \-m ;
.B \-g
and
.B \-i
need IPVS), and persistence is a timed map of clients to their real server.
.B \-\-datapath=nftables|ipvs
as the first argument, the environment variable
.B LUBDUB_DATAPATH
or
.B lvs_datapath
in
.BR lubdub.cf (5)
forces one.
.SH "CONNECTION SYNC"
On IPVS,
.B \-\-start\-daemon master|backup
and
.B \-\-stop\-daemon
start and stop the kernel's connection sync daemons as ipvsadm does (a
master and a backup may run at once), and
.B "\-L \-\-daemon"
lists them. The master multicasts the connections this director balances;
the backup puts those it receives into this director's table, so that they
go on after the VIP moves here. In
.BR haresources ,
.B LVSSyncDaemonSwap::master
swaps them with the group. The nftables data path has no sync daemon
(these commands say so): there
.BR conntrackd (8)
synchronises the connections, and the
.B conntrackd
resource switches it with the group.
.SH "EXIT STATUS"
0 on success, 2 for a bad command line, 255 when the kernel refuses a
change (as ipvsadm), 1 for other failures.
.SH FILES
.TP
.I /run/lubdub/lvs.lock
Serialises lubdub lvs commands and the health checkers.
.SH "SEE ALSO"
.BR lubdub (8),
.BR ipvsadm (8),
.BR ldirectord (8),
.BR nft (8),
.BR conntrackd (8)
`)
	return b.String()
}

func lubdubCfPage(date string) string {
	var b strings.Builder
	th(&b, "lubdub.cf", 5, date, "File Formats")
	b.WriteString(`.SH NAME
lubdub.cf \- lubdub's own settings, beside Heartbeat's ha.cf
.SH SYNOPSIS
.I /etc/ha.d/lubdub.cf
.SH DESCRIPTION
.B lubdub.cf
holds what Heartbeat never had: resource timeouts, monitoring, quorum,
fencing devices. It is optional, and kept out of
.I ha.cf
so that the same
.I ha.cf
still serves Heartbeat nodes. Each line is
.I "name value"
(fencing lines take more words); a
.B #
starts a comment. Times are written as in
.I ha.cf
(seconds, decimals allowed, or a unit of ms or us) and may also end in s.
An unknown name, or a value out of range, is an error that names the file
and line, and lubdub does not start (a reload keeps the running
configuration).
.B "lubdub check"
shows what the daemon would run.
.SH SETTINGS
`)
	for _, s := range haconf.Settings {
		fmt.Fprintf(&b, ".TP\n\\fB%s\\fR \\fI%s\\fR\n%s", roffCode(s.Name), roff(s.Value), roff(s.Doc))
		if s.Default != "" {
			fmt.Fprintf(&b, " Default: \\fB%s\\fR.", roffCode(s.Default))
		}
		b.WriteString("\n")
	}
	b.WriteString(`.SH EXAMPLE
.nf
.RS 4
start_timeout 30s
monitor_interval 10s
no_quorum_policy stop
fence_device ipmi2 fence_ipmilan ip=198.18.0.12 username=admin password="s3cret pass" pcmk_host_list=node2
fencing_level node2 1 ipmi2
.RE
.fi
.SH "SEE ALSO"
.BR lubdub (8),
.BR lubdub\-differences (7),
.BR stonith (8)
`)
	return b.String()
}

var (
	mdCode = regexp.MustCompile("`([^`]*)`")
	mdBold = regexp.MustCompile(`\*\*([^*]+)\*\*`)
	mdLink = regexp.MustCompile(`\[([^\]]+)\]\([^)]+\)`)
)

// mdInline sets a markdown line's code spans and bold in roff.
func mdInline(s string) string {
	s = mdLink.ReplaceAllString(s, "$1")
	var out strings.Builder
	last := 0
	for _, m := range mdCode.FindAllStringSubmatchIndex(s, -1) {
		out.WriteString(mdBold.ReplaceAllString(roffText(s[last:m[0]]), `\fB$1\fR`))
		out.WriteString(`\fB` + roffCode(s[m[2]:m[3]]) + `\fR`)
		last = m[1]
	}
	out.WriteString(mdBold.ReplaceAllString(roffText(s[last:]), `\fB$1\fR`))
	return out.String()
}

// roffText escapes running text (not at a line's start).
func roffText(s string) string { return strings.ReplaceAll(s, `\`, `\e`) }

// line makes sure a text line cannot start a request.
func line(s string) string {
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		return `\&` + s
	}
	return s
}

func differencesPage(date string) string {
	var b strings.Builder
	th(&b, "lubdub-differences", 7, date, "lubdub")
	b.WriteString(`.SH NAME
lubdub\-differences \- where lubdub reads ha.cf, authkeys, haresources and ldirectord.cf differently from Heartbeat and ldirectord
.SH DESCRIPTION
`)
	b.WriteString(markdownToRoff(doc.Differences))
	b.WriteString(".SH \"SEE ALSO\"\n.BR lubdub (8),\n.BR lubdub.cf (5),\n.BR heartbeat (8),\n.BR ldirectord (8)\n")
	return b.String()
}

// markdownToRoff renders the markdown lubdub's documents use: headings
// (the first one, the title, is left out: NAME says it), paragraphs,
// tables (one tagged paragraph a row, the first cell as the tag), fenced
// code, "- " lists, code spans and bold.
func markdownToRoff(md string) string {
	var b strings.Builder
	var para []string
	flush := func() {
		if len(para) > 0 {
			b.WriteString(".PP\n" + line(mdInline(strings.Join(para, " "))) + "\n")
			para = nil
		}
	}
	var header []string
	lines := strings.Split(md, "\n")
	for i := 0; i < len(lines); i++ {
		l := strings.TrimRight(lines[i], " ")
		switch {
		case strings.HasPrefix(l, "```"):
			flush()
			b.WriteString(".PP\n.RS 4\n.nf\n")
			for i++; i < len(lines) && !strings.HasPrefix(lines[i], "```"); i++ {
				b.WriteString(roff(lines[i]) + "\n")
			}
			b.WriteString(".fi\n.RE\n")
		case strings.HasPrefix(l, "# "):
			flush()
		case strings.HasPrefix(l, "## "):
			flush()
			fmt.Fprintf(&b, ".SS \"%s\"\n", strings.ReplaceAll(mdInline(l[3:]), `"`, `\(dq`))
		case strings.HasPrefix(l, "|"):
			flush()
			cells := tableCells(l)
			if header == nil {
				header = cells
				continue
			}
			if strings.Trim(strings.Join(cells, ""), "-: ") == "" {
				continue
			}
			fmt.Fprintf(&b, ".TP\n%s\n", line(mdInline(cells[0])))
			var rest []string
			for j, c := range cells[1:] {
				if j+1 < len(header) {
					c = capitalize(header[j+1]) + ": " + c
				}
				rest = append(rest, strings.TrimSuffix(c, "."))
			}
			b.WriteString(line(mdInline(strings.Join(rest, ". "))) + ".\n")
		case strings.HasPrefix(l, "- "):
			flush()
			b.WriteString(".IP \\(bu 2\n" + line(mdInline(l[2:])) + "\n")
		case l == "":
			flush()
			header = nil
		default:
			para = append(para, strings.TrimSpace(l))
		}
	}
	flush()
	return b.String()
}

func tableCells(l string) []string {
	l = strings.TrimSpace(l)
	l = strings.TrimPrefix(strings.TrimSuffix(l, "|"), "|")
	cells := strings.Split(l, "|")
	for i := range cells {
		cells[i] = strings.TrimSpace(cells[i])
	}
	return cells
}
