"""Start-to-ready and idle RSS of a server (bench/http.sh): process start → first 200 from
PATH on 127.0.0.1:PORT, then VmRSS from /proc after a second of idling. Prints
`ready_ms rss_kib`. A server that exits or is not ready within 30 s fails the run.

Usage: startup.py PORT PATH CMD... (the environment passes through)."""
import http.client
import subprocess
import sys
import time

port, path, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
start = time.monotonic()
proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    while True:
        if proc.poll() is not None:
            sys.exit(f"startup.py: {cmd[0]} exited with {proc.returncode} before answering {path}")
        if time.monotonic() - start > 30:
            sys.exit(f"startup.py: {cmd[0]} did not answer {path} with 200 within 30 s")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                break
        except OSError:
            time.sleep(0.001)
        finally:
            conn.close()
    ready_ms = (time.monotonic() - start) * 1000
    time.sleep(1.0)
    with open(f"/proc/{proc.pid}/status") as status:
        rss_kib = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    print(f"{ready_ms:.1f} {rss_kib}")
finally:
    proc.terminate()
    proc.wait()
