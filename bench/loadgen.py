"""The load generator of `webhook_bench.py`: replays pre-built HTTP requests, in its own process.

    python bench/loadgen.py REQUESTS.pickle RESULT.pickle --port P [--connections C]
                            [--timeout S] [--budget S]

REQUESTS is a pickled list of (path with query string, body bytes), built and encrypted
beforehand so no crypto runs here. C threads, each with one keep-alive connection, take the
next request from the list until it is empty; a closed loop (a thread sends its next request
when the answer to the last one is in). RESULT is a pickled dict: `wall` seconds from the first
send to the last answer, and per request, in list order, `(status, latency seconds, body)`;
status 0 means no answer (connection refused, reset, or no answer within `--timeout`), and
None means never sent: after `--budget` seconds no new request starts, so a target that stalls
cannot hold the bench up.
"""
from __future__ import annotations

import argparse
import http.client
import itertools
import pickle
import threading
import time


def run(requests: list[tuple[str, bytes]], port: int, connections: int,
        content_type: str = "text/xml", timeout: float = 30, budget: float | None = None) -> dict:
    results: list = [None] * len(requests)
    counter = itertools.count()
    start = threading.Barrier(connections + 1)
    clock = time.perf_counter
    began = [clock()]

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        start.wait()
        while True:
            if budget is not None and clock() - began[0] > budget:
                break
            i = next(counter)
            if i >= len(requests):
                break
            path, body = requests[i]
            t0 = clock()
            try:
                conn.request("POST", path, body, headers={"Content-Type": content_type})
                resp = conn.getresponse()
                data = resp.read()
                results[i] = (resp.status, clock() - t0, data)
                if resp.will_close:
                    conn.close()
            except (OSError, http.client.HTTPException):
                results[i] = (0, clock() - t0, b"")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        conn.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(connections)]
    for t in threads:
        t.start()
    began[0] = clock()
    start.wait()
    t0 = clock()
    for t in threads:
        t.join()
    return {"wall": clock() - t0, "results": results}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("requests")
    ap.add_argument("result")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--content-type", default="text/xml")
    ap.add_argument("--timeout", type=float, default=30, help="seconds to wait for one answer")
    ap.add_argument("--budget", type=float, default=None, help="start no request after this")
    a = ap.parse_args(argv)
    with open(a.requests, "rb") as f:
        requests = pickle.load(f)
    out = run(requests, a.port, a.connections, a.content_type, a.timeout, a.budget)
    with open(a.result, "wb") as f:
        pickle.dump(out, f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
