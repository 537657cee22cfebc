#!/usr/bin/env bash
# Runs a command with the servers the tests need on 127.0.0.1, and stops them after,
# whatever the command's outcome:
#   - moto (a DynamoDB-compatible server) for the DynamoDB adapter's tests.
# Exports CRAT_TEST_DYNAMODB_ENDPOINT and CRAT_REQUIRE_DYNAMODB=1 so those tests cannot skip.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
log_dir=.tmp/logs
mkdir -p "$log_dir"

free_port() { "$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

moto_port=$(free_port)
# Start python itself (not a wrapper script) so $! is the server's own PID.
"$venv/bin/python" scripts/moto_server.py 127.0.0.1 "$moto_port" >"$log_dir/moto.log" 2>&1 &
pids+=("$!")
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$moto_port/moto-api/" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$moto_port/moto-api/" >/dev/null || { echo "moto did not start; see $log_dir/moto.log" >&2; exit 1; }
echo "moto (DynamoDB) on 127.0.0.1:$moto_port"

export CRAT_TEST_DYNAMODB_ENDPOINT="http://127.0.0.1:$moto_port"
export CRAT_REQUIRE_DYNAMODB=1
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
# Tests must never reach a real AWS account or the instance metadata service.
export AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL

"$@"
