#!/usr/bin/env python3
"""drift-bench/bench/cluster.py DRIFT [RUNS]: several nodes sharing topics through Redis, Drift
against nchan, side by side in one run.

Drift: three `DRIFT serve --h2c --threads 1 --redis URL` nodes on one redis-server. nchan: two
nginx instances (one worker each, Debian's nginx + libnginx-mod-nchan) with `nchan_redis_pass`
to another redis-server. Each redis-server runs without persistence on a free loopback port.
Per run, alternating which system goes first:
- fanout: `DRIFT bench fanout`, 1 topic, 1000 SSE subscribers over 12 connections spread in turn
  over every node, 1 publisher on the first node (16 POSTs in flight), 2000 messages of 64 B;
  the CPU time measured is that of every server process together (the nodes and their
  redis-server; the nginx workers and theirs); lost must be 0 for Drift;
- latency: the same at a fixed 100 messages/s for 10 s, for the cross-node publish-to-delivery
  latency (p50/p99; 2/3 of Drift's and 1/2 of nchan's subscribers are on another node than the
  publisher);
and once, for Drift only, a run of 3000 messages at 1000/s during which the third node is killed
(SIGKILL) after one second: its subscribers resume on the next node by Last-Event-ID (`drift
bench --resume`), and nothing may be lost or duplicated.
Prints one JSON line per run and a table of medians and ratios. Installs what is missing
(Debian's redis-server, nginx, libnginx-mod-nchan) when run as root. Every load is on
127.0.0.1, bounded in messages and time, and stops by itself.
"""
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import drift_serve

binary = os.path.abspath(sys.argv[1])
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
work = tempfile.mkdtemp(prefix="drift-cluster-")
SUBS, CONNS, MESSAGES = 1000, 12, 2000


def need(packages):
    missing = [p for p, probe in packages if not os.path.exists(probe)]
    if missing:
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        subprocess.run(["service", "nginx", "stop"], capture_output=True)
        subprocess.run(["service", "redis-server", "stop"], capture_output=True)


need([("redis-server", "/usr/bin/redis-server"), ("nginx", "/usr/sbin/nginx"),
      ("libnginx-mod-nchan", "/usr/lib/nginx/modules/ngx_nchan_module.so")])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis():
    """A redis-server without persistence; (process, port) once it is ready."""
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--logfile", ""],
                            stdout=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if "Ready to accept connections" in line:
            return proc, port
    raise SystemExit("redis-server did not start")


def nginx(redis_port, index):
    """One nginx with one worker and nchan on Redis; (master pid, worker pid, port)."""
    port = free_port()
    d = tempfile.mkdtemp(dir=work, prefix=f"nginx{index}-")
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""worker_processes 1;
user root;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
load_module /usr/lib/nginx/modules/ngx_nchan_module.so;
worker_rlimit_nofile 65536;
events {{ worker_connections 16384; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  keepalive_requests 100000000;
  http2_max_concurrent_streams 1024;
  upstream redis_store {{ nchan_redis_server "redis://127.0.0.1:{redis_port}"; }}
  nchan_message_buffer_length 1000;
  server {{
    listen 127.0.0.1:{port} http2;
    location ~ ^/sub/(\\w+)$ {{ nchan_subscriber eventsource; nchan_channel_id $1; nchan_redis_pass redis_store; }}
    location ~ ^/pub/(\\w+)$ {{ nchan_publisher; nchan_channel_id $1; nchan_redis_pass redis_store; }}
  }}
}}
""")
    subprocess.run(["nginx", "-p", d, "-c", conf], check=True)
    pidfile = os.path.join(d, "nginx.pid")
    for _ in range(100):
        if os.path.exists(pidfile):
            master = int(open(pidfile).read())
            workers = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout.split()
            if workers:
                return master, int(workers[0]), port
        time.sleep(0.05)
    raise SystemExit("nginx did not start")


def bench(sub_urls, pub_url, pids, label, extra):
    out = subprocess.run(
        [binary, "bench", "fanout", "--sub-url", ",".join(sub_urls), "--pub-url", pub_url,
         "--framing", "sse", "-t", "1", "-s", str(SUBS), "-c", str(CONNS), "-p", "1", "-m", "16",
         "-b", "64", "--duration", "60", "--drain", "5", "--server-pid", ",".join(map(str, pids)),
         "--label", label, "-q", *extra],
        capture_output=True, text=True, timeout=150)
    lines = [l for l in out.stdout.splitlines() if l.startswith("{")]
    if not lines:
        return {"label": label, "error": out.stderr[-300:]}
    return json.loads(lines[-1])


def drift_cluster():
    r, rport = redis()
    nodes = [drift_serve.start(binary, "--threads", "1", "--redis", f"redis://127.0.0.1:{rport}",
                               "--queue-messages", "100000", "--queue-bytes", "2000000000")
             for _ in range(3)]
    urls = [f"http://127.0.0.1:{port}/v1/t/{{topic}}" for _, port in nodes]
    return (r, nodes), urls, urls[0], [r.pid] + [p.pid for p, _ in nodes]


def nchan_cluster():
    r, rport = redis()
    instances = [nginx(rport, i) for i in range(2)]
    subs = [f"http://127.0.0.1:{port}/sub/{{topic}}" for _, _, port in instances]
    pub = f"http://127.0.0.1:{instances[0][2]}/pub/{{topic}}"
    return (r, instances), subs, pub, [r.pid] + [w for _, w, _ in instances]


def stop(kind, handle):
    r, members = handle
    if kind == "drift":
        for p, _ in members:
            p.terminate()
            p.wait()
    else:
        for master, _, _ in members:
            os.kill(master, 15)
    r.terminate()
    r.wait()


results = []
clusters = {"drift": drift_cluster, "nchan": nchan_cluster}
for rep in range(1, runs + 1):
    order = ["drift", "nchan"] if rep % 2 else ["nchan", "drift"]
    for kind in order:
        handle, subs, pub, pids = clusters[kind]()
        for scenario, extra in [("fanout", ["-n", str(MESSAGES)]),
                                ("latency", ["-n", "1000", "--rate", "100"])]:
            d = bench(subs, pub, pids, f"{kind}-{scenario}", extra)
            d.update(server=kind, scenario=scenario, rep=rep)
            print(json.dumps(d), flush=True)
            results.append(d)
        stop(kind, handle)
# One more Drift run with a node killed (SIGKILL) one second into 3000 messages at 1000/s: its
# subscribers (every third connection) resume on the next node by Last-Event-ID (--resume).
handle, subs, pub, pids = drift_cluster()
victim = handle[1][2][0]
run = subprocess.Popen(
    [binary, "bench", "fanout", "--sub-url", ",".join(subs), "--pub-url", pub, "--framing", "sse",
     "-t", "1", "-s", str(SUBS), "-c", str(CONNS), "-p", "1", "-m", "16", "-b", "64", "-n", "3000",
     "--rate", "1000", "--duration", "60", "--drain", "5", "--resume", "--label", "drift-kill", "-q"],
    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
time.sleep(1.0)
victim.kill()
victim.wait()
out, err = run.communicate(timeout=150)
lines = [l for l in out.splitlines() if l.startswith("{")]
killed = json.loads(lines[-1]) if lines else {"error": err[-300:]}
killed.update(server="drift", scenario="kill", rep=1)
print(json.dumps(killed), flush=True)
results.append(killed)
stop("drift", (handle[0], [n for n in handle[1] if n[0] is not victim]))
shutil.rmtree(work, ignore_errors=True)


def median(kind, scenario, key, sub=None):
    vals = []
    for d in results:
        if d.get("server") == kind and d.get("scenario") == scenario:
            v = d.get(key)
            if sub is not None and isinstance(v, dict):
                v = v.get(sub)
            if isinstance(v, (int, float)):
                vals.append(v)
    return statistics.median(vals) if vals else None


for d in results:
    if d.get("scenario") == "kill":
        print(f"kill run: {d.get('delivered')} of {d.get('expected')} delivered, lost {d.get('lost')}, "
              f"duplicates {d.get('duplicates')}, streams resumed on another node {d.get('streams_resumed')}")
rows = [("fanout", "deliveries_per_server_cpu_s", None), ("fanout", "lost", None),
        ("latency", "latency_us", "p50"), ("latency", "latency_us", "p99"), ("latency", "lost", None)]
print(f"{'scenario':10} {'measure':32} {'drift':>12} {'nchan':>12} {'drift/nchan':>12}")
for scenario, key, sub in rows:
    a, b = median("drift", scenario, key, sub), median("nchan", scenario, key, sub)
    ratio = f"{a / b:.2f}" if a is not None and b else "-"
    name = key + (f".{sub}" if sub else "")
    print(f"{scenario:10} {name:32} {a if a is not None else '-':>12} {b if b is not None else '-':>12} {ratio:>12}")
