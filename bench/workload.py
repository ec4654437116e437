"""What the bench's busybox containers write: numbered lines of a fixed size.

Every line is ``CCCC NNNNNNNNN xxx…x`` (container index, 4 digits; line number, 9 digits; padding),
150 characters plus the newline: 151 bytes of payload, a 190-byte frame on the logs API with
``timestamps=1`` (8-byte header, 30-byte timestamp and a space), 221 bytes in the json-file. The
two numbers make every delivered line identifiable, so the bench checks that each one arrived.

Writers:
- ``backlog_script``: busybox awk prints M lines at full speed (about 1.3 M lines/s in awk; dockerd's
  json-file writer is the limit) and exits; with ``keep_running`` it then creates ``/gate/done-<index>``
  and sleeps, as the backlog of a restarted agent's still-running containers looks.
- ``paced_script``: waits for the gate file ``/gate/go``, which holds the start time T0 in
  /proc/uptime centiseconds (the host's, shared by every container), then writes line n at
  T0 + offset + n / rate, ``tick`` lines at a time. Sleeping is ``read -t`` on a private FIFO, a
  shell builtin: no fork per tick. A writer that falls behind catches up, so the total is exact.
- ``churn_script``: half its lines at start, sleeps its lifetime, the other half at exit.
"""

from __future__ import annotations

LINE_CHARS = 150
PREFIX_CHARS = len("0000 000000000 ")
PAD = "x" * (LINE_CHARS - PREFIX_CHARS)
LINE_BYTES = LINE_CHARS + 1
FRAME_BYTES = 8 + 31 + LINE_BYTES  # header, "<timestamp> ", payload
IMAGE = "busybox:local"
FORMAT = "%04d %09d " + PAD + "\\n"


def message(index: int, number: int) -> str:
    """The message (without newline) of line ``number`` of container ``index``."""
    return f"{index:04d} {number:09d} {PAD}"


def backlog_script(index: int, lines: int, keep_running: bool = False) -> str:
    script = f"awk 'BEGIN{{for(i=0;i<{lines};i++) printf \"{FORMAT}\", {index}, i}}'"
    if keep_running:
        script += f" && touch /gate/done-{index} && exec sleep 86400"
    return script


def paced_script(index: int, lines: int, rate: float, tick: int, offset_cs: int) -> str:
    """Write ``lines`` lines at ``rate`` lines/s, ``tick`` at a time, once the gate opens."""
    # due (centiseconds) of line n = t0 + n * 100 / rate; integer arithmetic with rate in lines per 100 s
    rate_x100 = max(1, round(rate * 100))
    return (
        "mkfifo /tmp/tick && exec 3<>/tmp/tick; "
        "until [ -e /gate/go ]; do read -t 0.1 _ <&3; done; "
        "read t0 < /gate/go; "
        f"t0=$((t0 + {offset_cs})); n=0; "
        f"while [ $n -lt {lines} ]; do "
        f"due=$((t0 + n * 10000 / {rate_x100})); "
        "read up _ < /proc/uptime; now=${up%.*}${up#*.}; d=$((due - now)); "
        "if [ $d -gt 0 ]; then s=$((d / 100)); c=$((d % 100)); [ $c -lt 10 ] && c=0$c; read -t $s.$c _ <&3; fi; "
        f"k=0; while [ $k -lt {tick} ] && [ $n -lt {lines} ]; do "
        f"printf '{FORMAT}' {index} $n; n=$((n + 1)); k=$((k + 1)); done; "
        "done"
    )


def churn_script(index: int, lines: int, life_ms: int) -> str:
    """``lines`` lines: the first half at start, the rest after ``life_ms`` milliseconds, then exit."""
    half = lines // 2
    return (
        f"n=0; while [ $n -lt {half} ]; do printf '{FORMAT}' {index} $n; n=$((n + 1)); done; "
        f"usleep {life_ms * 1000}; "
        f"while [ $n -lt {lines} ]; do printf '{FORMAT}' {index} $n; n=$((n + 1)); done"
    )
