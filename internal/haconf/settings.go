package haconf

import "strings"

// Setting is one lubdub.cf directive: the table lubdub.cf(5) is made
// from and the parser's list of names (its switch reads the values).
type Setting struct {
	Name    string
	Value   string // the value's form, in lubdub.cf(5)'s words
	Default string // as written in lubdub.cf; "" when the default depends on the cluster (Doc says)
	Doc     string
}

// Settings are lubdub.cf's directives, in the order lubdub.cf(5) lists
// them. Times are Heartbeat times (ParseTime) that may also end in s.
var Settings = []Setting{
	{"start_timeout", "TIME", "20s", "How long one resource may take to start; then it is killed (with its process group) and the start counts as failed."},
	{"stop_timeout", "TIME", "20s", "How long one resource may take to stop; then it is killed and the stop counts as failed (and is retried, see stop_retries)."},
	{"monitor_interval", "TIME", "5s", "How often each resource of a group running here is checked (status, or monitor for OCF agents). 0 turns monitoring off."},
	{"monitor_timeout", "TIME", "10s", "How long one check may take; a check that takes longer has failed."},
	{"max_restarts", "N", "3", "How often (0 to 100) a group whose check failed is restarted in place before it moves to another node."},
	{"stop_retries", "N", "10", "How often (0 to 100) a failed stop is tried again, 1 s apart, as Heartbeat's HA_STOPRETRYMAX. A resource still running after that leaves its group blocked: see on_fail."},
	{"failback_delay", "TIME", "", "A node heard again after it was declared dead gets its groups back only once every live peer has heard it this long (keepalived's preempt_delay); the node that runs a group keeps it meanwhile. Default: 3 deadtimes."},
	{"no_quorum_policy", "stop|freeze|ignore", "stop", "What a partition without quorum (a strict majority of ha.cf's nodes, with three or more nodes) does, as Pacemaker's no-quorum-policy: stop its groups and start none, freeze (keep what runs, start nothing), or ignore quorum."},
	{"wait_for_all", "on|off", "", "Place nothing until every node has been seen once since start, so that a node booting alone takes nothing (corosync's wait_for_all). Default: on with two nodes, off with more."},
	{"watchdog_fence_timeout", "TIME", "0", "Watchdog self-fencing (sbd's stonith-watchdog-timeout): a node that fell silent counts as fenced, and its groups are started elsewhere, only this long after its death; each node feeds its watchdog (ha.cf's watchdog directive, which it needs) only while its partition has quorum or it holds nothing, and sets the device's timeout to half this. 0: off."},
	{"fence_delay", "TIME", "", "In a two-node cluster, how long the node that holds no group waits before it fences its peer, so that when both shoot the one running the groups wins (Pacemaker's priority-fencing-delay). Default: 2 deadtimes."},
	{"on_fail", "fence|block", "", "What becomes of a node where a group's stop failed (after stop_retries) and the group may still run there, as Pacemaker's on-fail for stop: fence (the node says so in its reports; a peer with quorum fences it, through its fence devices, or with watchdog self-fencing by the node's own watchdog, which it stops feeding, and watchdog_fence_timeout; once it is fenced the group starts elsewhere) or block (the group is started nowhere until lubdub cleanup GROUP on that node). Default: fence when this node has fencing (fence_device, ha.cf's stonith or stonith_host, or watchdog_fence_timeout), as Pacemaker's default follows stonith-enabled; block otherwise. A node with a blocked group of its own fences no peer for this."},
	{"failure_timeout", "TIME", "0", "How long a group's fail count, and a failed start's ban on this node, last (Pacemaker's failure-timeout); lubdub status shows the counts and the last failure. 0: they last until lubdub cleanup GROUP."},
	{"metrics_listen", "[ADDR:]PORT", "", "Serve Prometheus metrics at http://ADDR:PORT/metrics (a port alone listens on 127.0.0.1 only). Off when not set."},
	{"notify", "PATH", "", "A notify hook, run for every event as PATH EVENT SUBJECT NODE STATE with LUBDUB_* variables, in order, without a shell, killed at notify_timeout. It must be executable, owned by root or lubdub's user and not writable by group or others. May be given more than once."},
	{"alert", "PATH [RECIPIENT]", "", "A Pacemaker alert agent, run unchanged for node, fencing and resource events with Pacemaker's CRM_alert_* variables (CRM_alert_recipient is RECIPIENT). Same checks as notify. May be given more than once."},
	{"notify_timeout", "TIME", "30s", "How long one run of a notify hook or alert agent may take; then it is killed with its process group, and logged."},
	{"lvs_datapath", "auto|nftables|ipvs", "auto", "Where ldirectord resources put their virtual services: IPVS if the kernel has it, else nftables (auto), or the one named."},
	{"fence_device", "NAME AGENT [key=value ...]", "", "A fence device. AGENT is a Red Hat style agent (fence_NAME, or a path to it; the pairs go to its standard input), external/NAME (a cluster-glue external plugin called directly, the pairs in its environment) or glue:TYPE (any cluster-glue plugin through its stonith command, the pairs as stonith -E takes them). Values may be double-quoted to hold blanks; inside quotes \\\" and \\\\ stand for \" and \\. Keys beginning with pcmk_ are lubdub's, as in Pacemaker, and are not passed to the device: pcmk_host_list=n1,n2 (the nodes it fences; without it the device is asked), pcmk_host_map=n1:plug1;n2:plug2, pcmk_host_argument=plug|port|none, pcmk_reboot_timeout, pcmk_monitor_timeout and pcmk_list_timeout (default 60s), pcmk_delay_base (a delay before this device fences)."},
	{"fencing_level", "NODE INDEX DEVICE[,DEVICE...]", "", "Pacemaker's fencing topology: a node's levels are tried in ascending INDEX (1 to 9) until one succeeds, and a level succeeds only when every one of its devices does. The device of ha.cf's stonith or stonith_host line is called ha.cf here. A node without levels is fenced by every device that lists it, in file order (ha.cf's first), each a level of its own."},
}

// settingNames is the list of names in the parser's error for an unknown
// one.
func settingNames() string {
	var names []string
	for _, s := range Settings {
		names = append(names, s.Name)
	}
	return strings.Join(names, ", ")
}
