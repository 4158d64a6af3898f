#!/usr/bin/env bash
# Smoke test under Node.js 22, the Lambda runtime, taken from the registry's `node` package: `npm start`
# with the default config, one event delivered to its `log` target (seen through the API and in the log),
# `cdk synth`. Fails loudly with the server's log; stops everything it started.
# Usage: scripts/smoke-node22.sh   (NODE_SMOKE_VERSION=24 to try another major)
set -euo pipefail
cd "$(dirname "$0")/.."

major=${NODE_SMOKE_VERSION:-22}
fail() {
  echo "smoke-node${major}: FAILED: $*" >&2
  exit 1
}

node_path=$(npx -y -p "node@${major}" node -e 'process.stdout.write(process.execPath)') ||
  fail "could not get node@${major} from the registry"
export PATH="$(dirname "$node_path"):$PATH"
[[ $(node --version) == "v${major}."* ]] || fail "node on PATH is $(node --version), not ${major}.x"
echo "smoke-node${major}: node $(node --version) ($node_path)"

work=$(mktemp -d "${TMPDIR:-/tmp}/shipcast-smoke-XXXXXX")
server_pid=
cleanup() {
  local status=$?
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    # npm start runs in its own process group (setsid): stop npm, tsx and node together.
    kill -TERM -- "-$server_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$server_pid" 2>/dev/null || true
  fi
  if [[ $status -ne 0 && -f $work/server.log ]]; then
    echo "---- npm start log ----" >&2
    tail -n 80 "$work/server.log" >&2
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{process.stdout.write(String(s.address().port));s.close()})"
}
port=$(free_port)
queue_port=$(free_port)
token="smoke-token-$(node -e "process.stdout.write(require('crypto').randomBytes(12).toString('hex'))")"
api="http://127.0.0.1:${port}"

# 1. npm start with the default config (shipcast.config.json: one `log` target), data in a temporary dir.
SHIPCAST_DATA_DIR="$work/data" PORT=$port SHIPCAST_QUEUE_PORT=$queue_port SHIPCAST_SECRET_API_TOKEN=$token \
  setsid npm start >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 300); do
  curl -fsS "$api/healthz" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || fail "npm start exited before answering /healthz"
  sleep 0.2
done
curl -fsS "$api/healthz" >/dev/null || fail "npm start did not answer /healthz within 60 s"

# 2. One event in, delivered to the log target.
accepted=$(curl -fsS -X POST "$api/v1/events" -H "authorization: Bearer $token" \
  -H 'content-type: application/json' \
  -d '{"service":"smoke","environment":"ci","status":"succeeded","version":"node'"$major"'-smoke"}') ||
  fail "POST /v1/events was refused"
deployment_id=$(node -e 'process.stdout.write(JSON.parse(process.argv[1]).deploymentId)' "$accepted")
state=
for _ in $(seq 1 150); do
  state=$(curl -fsS "$api/v1/deployments/$deployment_id" -H "authorization: Bearer $token" |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const d=JSON.parse(s).deliveries.find(x=>x.target==="console");process.stdout.write(d?d.state:"none")})')
  [[ $state == delivered ]] && break
  sleep 0.2
done
[[ $state == delivered ]] || fail "the console (log) delivery of $deployment_id is '$state', not delivered, after 30 s"
grep -F "$deployment_id" "$work/server.log" | grep -qF '"message":"smoke → ci: succeeded"' ||
  fail "the log target wrote no line about $deployment_id"
echo "smoke-node${major}: npm start delivered deployment $deployment_id to the log target"

# 3. cdk synth with the same node (stop the server first: it is no longer needed).
kill -TERM -- "-$server_pid" 2>/dev/null || true
wait "$server_pid" 2>/dev/null || true
server_pid=
npx cdk synth --quiet --output "$work/cdk.out" >"$work/synth.log" 2>&1 || {
  tail -n 40 "$work/synth.log" >&2
  fail "cdk synth failed"
}
[[ -f $work/cdk.out/Shipcast.template.json ]] || fail "cdk synth wrote no Shipcast template"
echo "smoke-node${major}: cdk synth OK"
