#!/bin/sh
# websrv: the demo's service, a web page naming the node that serves it
# (lubdub serve). A Heartbeat resource.d script: websrv start|stop|status.
LUBDUB="@LUBDUB@"
DIR="${HA_DIR:?HA_DIR is not set}"
PIDFILE="$DIR/websrv.pid"

running() {
	[ -f "$PIDFILE" ] || return 1
	pid=$(cat "$PIDFILE")
	[ -r "/proc/$pid/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status"
}

case "$1" in
start)
	running && exit 0
	setsid "$LUBDUB" serve --listen 0.0.0.0:80 "$HA_CURHOST" >"$DIR/websrv.log" 2>&1 </dev/null &
	echo $! > "$PIDFILE"
	if ! "$LUBDUB" probe --until-ok --interval 5ms --timeout 200ms --duration 5s http://127.0.0.1/ >/dev/null; then
		echo "websrv: the web server did not start listening"
		exit 1
	fi
	echo "websrv: serving $HA_CURHOST"
	;;
stop)
	if running; then
		kill "$(cat "$PIDFILE")"
		i=0
		while running && [ $i -lt 100 ]; do sleep 0.02; i=$((i+1)); done
	fi
	rm -f "$PIDFILE"
	;;
status)
	if running; then echo "websrv is running"; else echo "websrv is stopped"; fi
	;;
*)
	echo "usage: $0 start|stop|status"
	exit 1
	;;
esac
exit 0
