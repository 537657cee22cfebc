"""Init time of a Lambda bootstrap: from process start to its first
`GET /2018-06-01/runtime/invocation/next` on a local Runtime API (this script), i.e. the
time a cold start spends in `main` before it can take an event. Prints the median of
RUNS starts in milliseconds.

Usage: python3 bench/lambda_init.py BOOTSTRAP RUNS [KEY=VALUE ...]  (env for the function)
"""

import http.server
import os
import statistics
import subprocess
import sys
import threading
import time

bootstrap, runs = sys.argv[1], int(sys.argv[2])
extra_env = dict(kv.split("=", 1) for kv in sys.argv[3:])
ready = threading.Event()


class RuntimeApi(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.endswith("/runtime/invocation/next"):
            ready.set()
            time.sleep(30)  # hold the long poll; the process is killed meanwhile
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
server.daemon_threads = True
threading.Thread(target=server.serve_forever, daemon=True).start()
env = {
    "PATH": os.environ.get("PATH", ""),
    "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
    "AWS_LAMBDA_FUNCTION_NAME": "bench",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    "AWS_LAMBDA_LOG_GROUP_NAME": "bench",
    "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_EC2_METADATA_DISABLED": "true",
    **extra_env,
}
times = []
for _ in range(runs):
    ready.clear()
    start = time.perf_counter()
    proc = subprocess.Popen([bootstrap], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not ready.wait(20):
        proc.kill()
        sys.exit(f"{bootstrap} did not ask for an event within 20 s")
    times.append((time.perf_counter() - start) * 1000)
    proc.kill()
    proc.wait()
print(f"{statistics.median(times):.1f}")
