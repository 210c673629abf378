// Package notify runs programs for events (package events): notify hooks,
// with a fixed argv as keepalived's notify scripts, and Pacemaker alert
// agents, unchanged, with the CRM_alert_* variables Pacemaker gives them.
//
// It is the daemon's edge: the core hands it events and never waits. Each
// program has a worker of its own that runs it once per event, in the
// events' order, without a shell, killed with everything it started (its
// process group) at the timeout; a program that falls behind loses its
// oldest events (logged), never the daemon's time.
//
// What a program is given is computed by pure functions (HookCall,
// AlertCall) from the event.
package notify

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/lubdub/lubdub/internal/events"
)

// HookCall is how a notify hook is run for e: its arguments after the
// program's path (EVENT SUBJECT NODE STATE, where EVENT is the event's
// kind), and the same and more in LUBDUB_* variables: LUBDUB_EVENT,
// LUBDUB_SUBJECT, LUBDUB_NODE, LUBDUB_STATE, LUBDUB_WAS (the state before,
// if known), LUBDUB_REASON, LUBDUB_SEQ, LUBDUB_GENERATION, LUBDUB_TIME
// (RFC 3339, nanoseconds), LUBDUB_ORIGIN (the node running the hook), and
// for a group event caused by a resource operation LUBDUB_OP, LUBDUB_RC
// (OCF exit code) and LUBDUB_OP_MS (how long it ran).
func HookCall(e events.Event) (args, env []string) {
	args = []string{string(e.Kind), e.Subject, e.Node, e.State}
	env = []string{
		"LUBDUB_EVENT=" + string(e.Kind),
		"LUBDUB_SUBJECT=" + e.Subject,
		"LUBDUB_NODE=" + e.Node,
		"LUBDUB_STATE=" + e.State,
		"LUBDUB_WAS=" + e.Was,
		"LUBDUB_REASON=" + e.Reason,
		"LUBDUB_SEQ=" + strconv.FormatUint(e.Seq, 10),
		"LUBDUB_GENERATION=" + strconv.FormatUint(e.Generation, 10),
		"LUBDUB_TIME=" + e.Time.Format("2006-01-02T15:04:05.000000000Z07:00"),
		"LUBDUB_ORIGIN=" + e.Origin,
	}
	if e.Op != nil {
		env = append(env, "LUBDUB_OP="+e.Op.Name, "LUBDUB_RC="+strconv.Itoa(e.Op.RC), "LUBDUB_OP_MS="+strconv.FormatInt(e.Op.TookMS, 10))
	}
	return args, env
}

// PacemakerVersion is what CRM_alert_version says: the Pacemaker release
// whose alert interface lubdub follows (Debian 12's; the sample agents
// only check that it is set).
const PacemakerVersion = "2.1.5"

// Alert is one alert to send: the kind Pacemaker would name and the
// variables of that kind, before the per-run ones (recipient, sequence,
// timestamps) that AlertEnv adds.
type Alert struct {
	Kind string // node, fencing or resource
	Vars [][2]string
}

// AlertFor is the alert Pacemaker would send for e, if any, following its
// lrmd_send_node_alert, lrmd_send_fencing_alert and
// lrmd_send_resource_alert (Pacemaker 2.1.5, lib/lrmd/lrmd_alerts.c):
//
//   - node: a node becoming a member (up or active, from not alive) or
//     lost (dead or left, from alive); CRM_alert_node, CRM_alert_nodeid
//     (its position in ha.cf, from 1; Pacemaker gives corosync's node id)
//     and CRM_alert_desc "member" or "lost";
//   - fencing: a fencing that ended (fenced or failed); CRM_alert_node (the
//     target), CRM_alert_task "reboot", CRM_alert_rc (0, or -61 as Pacemaker
//     reports an agent's failure without a known cause), CRM_alert_desc as
//     stonith__event_description writes it;
//   - resource: the end of a group's start, stop or failed monitor here;
//     CRM_alert_node, CRM_alert_rsc (the group), CRM_alert_task,
//     CRM_alert_interval (ms), CRM_alert_target_rc (0), CRM_alert_status (0,
//     or 2 for a timeout), CRM_alert_rc (OCF), CRM_alert_exec_time (ms),
//     CRM_alert_desc ("ok", "error", "not running", or "Timed Out").
//
// Other events (links, quorum, requests, reloads, a node restarting) have no
// Pacemaker alert. nodes is ha.cf's node list.
func AlertFor(e events.Event, nodes []string) (Alert, bool) {
	if e.Replay {
		return Alert{}, false
	}
	alive := func(s string) bool { return s == "up" || s == "active" }
	switch e.Kind {
	case events.Node:
		desc := ""
		switch {
		case alive(e.State) && !alive(e.Was):
			desc = "member"
		case (e.State == "dead" || e.State == "left") && alive(e.Was) && e.Node != e.Origin:
			desc = "lost"
		default:
			return Alert{}, false
		}
		return Alert{Kind: "node", Vars: [][2]string{{"node", e.Node}, {"desc", desc},
			{"nodeid", strconv.Itoa(slices.Index(nodes, e.Node) + 1)}}}, true
	case events.Fencing:
		var status, rc string
		switch e.State {
		case "fenced":
			status, rc = "OK", "0"
		case "failed":
			status, rc = "Error", "-61"
		default:
			return Alert{}, false
		}
		if e.Reason != "" && e.State == "failed" {
			status += " (" + e.Reason + ")"
		}
		desc := fmt.Sprintf("Operation reboot of %s by %s for lubdub@%s: %s (ref=lubdub-%d-%d)", e.Node, e.Origin, e.Origin, status, e.Generation, e.Seq)
		return Alert{Kind: "fencing", Vars: [][2]string{{"node", e.Node}, {"task", "reboot"}, {"desc", desc}, {"rc", rc}}}, true
	case events.Group:
		op := e.Op
		if op == nil {
			return Alert{}, false
		}
		status, desc := "0", map[int]string{events.RCOK: "ok", events.RCError: "error", events.RCNotRunning: "not running"}[op.RC]
		if desc == "" {
			desc = "error"
		}
		if op.TimedOut {
			status, desc = "2", "Timed Out"
		}
		return Alert{Kind: "resource", Vars: [][2]string{{"node", e.Node}, {"rsc", e.Subject}, {"task", op.Name},
			{"interval", strconv.FormatInt(op.IntervalMS, 10)}, {"target_rc", "0"}, {"status", status},
			{"rc", strconv.Itoa(op.RC)}, {"exec_time", strconv.FormatInt(op.TookMS, 10)}, {"desc", desc}}}, true
	}
	return Alert{}, false
}

// AlertEnv is the environment of one run of an alert agent, as Pacemaker's
// exec_alert_list and execd build it: the alert's variables, then
// CRM_alert_kind, CRM_alert_version, CRM_alert_recipient,
// CRM_alert_timestamp (the event's time, local, Pacemaker's default format
// %H:%M:%S.%06N), CRM_alert_timestamp_epoch, CRM_alert_timestamp_usec and
// CRM_alert_node_sequence (sequence: this node's count of alert runs, as
// execd's); each under its CRM_notify_* name too, as Pacemaker sets both.
func AlertEnv(a Alert, e events.Event, recipient string, sequence uint64) []string {
	vars := append(slices.Clone(a.Vars),
		[2]string{"kind", a.Kind}, [2]string{"version", PacemakerVersion}, [2]string{"recipient", recipient},
		[2]string{"timestamp", e.Time.Local().Format("15:04:05.000000")},
		[2]string{"timestamp_epoch", strconv.FormatInt(e.Time.Unix(), 10)},
		[2]string{"timestamp_usec", fmt.Sprintf("%06d", e.Time.Nanosecond()/1000)},
		[2]string{"node_sequence", strconv.FormatUint(sequence, 10)})
	env := make([]string, 0, 2*len(vars))
	for _, v := range vars {
		env = append(env, "CRM_notify_"+v[0]+"="+v[1], "CRM_alert_"+v[0]+"="+v[1])
	}
	return env
}
