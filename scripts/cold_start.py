#!/usr/bin/env python3
"""Measures the Lambda binary's cold start locally: the time from exec to its first request for
an invocation (GET /runtime/invocation/next) on a local Runtime API endpoint. That span is the
binary's whole init: settings, logging, runtime; no AWS client is built before it is needed.

usage: cold_start.py BOOTSTRAP [RUNS]   prints the median and the spread in milliseconds
"""
import os, socket, statistics, subprocess, sys, time

binary, runs = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 21
times = []
for _ in range(runs):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.getsockname()[1]}",
               AWS_LAMBDA_FUNCTION_NAME="ddb-lake", AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128",
               AWS_LAMBDA_FUNCTION_VERSION="$LATEST", AWS_REGION="us-east-1")
    start = time.perf_counter()
    child = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    conn, _ = server.accept()
    request = b""
    while b"\r\n" not in request:
        chunk = conn.recv(4096)
        if not chunk:
            break
        request += chunk
    elapsed = (time.perf_counter() - start) * 1000
    child.kill()
    child.wait()
    conn.close()
    server.close()
    if not request.startswith(b"GET ") or b"/runtime/invocation/next" not in request:
        sys.exit(f"unexpected first request: {request[:80]!r}")
    times.append(elapsed)
times.sort()
print(f"cold start (exec to first /next): median {statistics.median(times):.2f} ms, "
      f"min {times[0]:.2f} ms, max {times[-1]:.2f} ms over {runs} runs")
