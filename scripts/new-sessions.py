import http.client, json, sys, time, threading, statistics
svc, n, conc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
tool = {"fx": ("echo", {"text": "x"}), "py": ("greet", {"name": "A"})}[svc]
lat = []; lock = threading.Lock(); idx = iter(range(n)); pfx = str(time.time())
def worker():
    c = http.client.HTTPConnection("127.0.0.1", 18080)
    h = {"Authorization": "Bearer t", "Content-Type": "application/json"}
    while True:
        with lock:
            i = next(idx, None)
        if i is None: return
        body = json.dumps({"tool": tool[0], "session_id": f"s{pfx}-{i}", "arguments": tool[1]})
        t = time.perf_counter(); c.request("POST", f"/services/{svc}/call", body, h); r = c.getresponse(); r.read()
        assert r.status == 200, r.status
        with lock: lat.append(time.perf_counter() - t)
t0 = time.perf_counter(); ts = [threading.Thread(target=worker) for _ in range(conc)]
[t.start() for t in ts]; [t.join() for t in ts]; el = time.perf_counter() - t0
lat.sort()
print(f"{svc} n={n} c={conc}: {n/el:.1f} sessions/s, p50 {lat[len(lat)//2]*1000:.1f} ms, p99 {lat[int(len(lat)*.99)]*1000:.1f} ms")
c = http.client.HTTPConnection("127.0.0.1", 18080)
for i in range(n):
    c.request("DELETE", f"/sessions/s{pfx}-{i}", headers={"Authorization": "Bearer t"}); c.getresponse().read()
