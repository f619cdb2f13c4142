#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""interleave.py ROUNDS LABEL=CMD [LABEL=CMD ...]

Run each command once untimed (a warm page cache for all alike), then
ROUNDS rounds of all of them in turn, so a burst of load elsewhere hits
every command alike.  Wall time from fork to exit (ns clock, including
the exec of /usr/bin/time, the same for every command); peak RSS as
/usr/bin/time reports it (a child of this process would count the
python interpreter it was forked from).  Prints one line per command:

  LABEL median_s min_s max_s peak_rss_kib exit_status median_cpu_s

(cpu: user + system seconds, 10 ms resolution: less moved by load on
other cores than the wall time, but not the figure that counts.)

A command is split on whitespace (no shell).  Output goes to /dev/null.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

RSS = tempfile.NamedTemporaryFile(prefix="interleave.", delete=False).name


def run(argv):
    t0 = time.perf_counter_ns()
    rc = subprocess.call(["/usr/bin/time", "-f", "%M %U %S", "-o", RSS] +
                         argv,
                         stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    t = (time.perf_counter_ns() - t0) / 1e9
    with open(RSS) as f:
        rss, user, syst = f.read().split("\n")[-2].split()
    return t, int(rss), rc, float(user) + float(syst)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    rounds = int(sys.argv[1])
    cmds = []
    for arg in sys.argv[2:]:
        label, _, cmd = arg.partition("=")
        cmds.append((label, cmd.split()))
    for _, argv in cmds:
        run(argv)
    times = {label: [] for label, _ in cmds}
    cpu = {label: [] for label, _ in cmds}
    rss = {label: 0 for label, _ in cmds}
    code = {label: 0 for label, _ in cmds}
    for _ in range(rounds):
        for label, argv in cmds:
            t, r, c, u = run(argv)
            times[label].append(t)
            cpu[label].append(u)
            rss[label] = max(rss[label], r)
            code[label] = code[label] or c
    for label, _ in cmds:
        v = times[label]
        print("%s %.4f %.4f %.4f %d %d %.3f" % (label, statistics.median(v),
              min(v), max(v), rss[label], code[label],
              statistics.median(cpu[label])))


try:
    main()
finally:
    os.unlink(RSS)
