"""`distribution:` run locally: the processes Azure ML would start, on one machine.

Azure ML starts `process_count_per_instance` copies of the command on each of
`resources.instance_count` nodes and sets the rendezvous variables
(https://learn.microsoft.com/azure/machine-learning/how-to-train-distributed-gpu):
- pytorch: MASTER_ADDR, MASTER_PORT (6105), WORLD_SIZE, NODE_RANK, RANK and
  LOCAL_RANK per process;
- tensorflow: TF_CONFIG (cluster of `worker_count` workers and
  `parameter_server_count` parameter servers, this process's task,
  "environment": "cloud");
- mpi: `mpirun` starts the processes (it sets OMPI_COMM_WORLD_RANK and friends);
  AZ_BATCH_MASTER_NODE names the first node.
Locally every "node" is a group of processes on this machine (NODE_RANK set as
Azure ML would), all talking over 127.0.0.1. The launcher is a bash script run
inside the job's environment, so Docker and venv runs start processes the same
way; each process's output also goes to logs/std_log_process_<rank>.txt."""

import json
import shlex
from typing import Dict, List, Optional

from amlops.spec.job import Distribution

MASTER_ADDR = "127.0.0.1"
MASTER_PORT = 6105  # Azure ML's default rendezvous port for PyTorch jobs
TF_BASE_PORT = 12345
# Starts each process in its own process group (set -m) so a failing rank, or a
# TERM/INT to the launcher, stops every rank's whole process tree. It polls rather
# than `wait -n`, which loses jobs bash has already reported under job control.
LAUNCHER = r"""
set -m
pids=()
stop() { for p in "${pids[@]}"; do kill -TERM -- "-$p" 2>/dev/null; done; }
trap 'stop; wait; exit 130' INT TERM
%(starts)s
exec 2>/dev/null  # bash's own job notices; every rank's output goes through tee
status=0
running=("${pids[@]}")
while [ "${#running[@]}" -gt 0 ]; do
  still=()
  for p in "${running[@]}"; do
    if kill -0 "$p" 2>/dev/null; then still+=("$p"); continue; fi
    wait "$p"
    code=$?
    if [ "$code" -ne 0 ] && [ "$status" -eq 0 ]; then
      status=$code
      echo "amlops: a process exited with $code; stopping the others"
      stop
    fi
  done
  running=("${still[@]}")
  [ "${#running[@]}" -gt 0 ] && sleep 0.1
done
exit $status
"""
START = (
    '( env %(env)s bash -c "$AMLOPS_COMMAND" 2>&1 | tee -a "$AMLOPS_LOG_DIR/%(log)s";'
    ' exit "${PIPESTATUS[0]}" ) &\npids+=($!)'
)
MPI = (
    'command -v mpirun >/dev/null || { echo "amlops: distribution type mpi needs mpirun'
    ' in the environment (Azure ML base images have Open MPI)" >&2; exit 127; }\n'
    "export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"
    " AZ_BATCH_MASTER_NODE=127.0.0.1:%(port)d\n"
    'exec mpirun --oversubscribe -np %(n)d bash -c "$AMLOPS_COMMAND"'
)


def process_count(dist: Optional[Distribution], instance_count: int) -> int:
    """How many processes Azure ML would start for the job."""
    if dist is None:
        return 1
    if dist.type == "tensorflow":
        return dist.worker_count + dist.parameter_server_count
    return dist.process_count_per_instance * instance_count


def process_environments(
    dist: Distribution, instance_count: int, master_port: int = MASTER_PORT
) -> List[Dict[str, str]]:
    """The per-process variables of a pytorch or tensorflow job, rank order."""
    if dist.type == "tensorflow":
        return _tensorflow(dist)
    per_node = dist.process_count_per_instance
    world = per_node * instance_count
    envs = []
    for rank in range(world):
        envs.append(
            {
                "MASTER_ADDR": MASTER_ADDR,
                "MASTER_PORT": str(master_port),
                "WORLD_SIZE": str(world),
                "NODE_RANK": str(rank // per_node),
                "RANK": str(rank),
                "LOCAL_RANK": str(rank % per_node),
            }
        )
    return envs


def _tensorflow(dist: Distribution) -> List[Dict[str, str]]:
    workers = [f"localhost:{TF_BASE_PORT + i}" for i in range(dist.worker_count)]
    servers = [
        f"localhost:{TF_BASE_PORT + dist.worker_count + i}"
        for i in range(dist.parameter_server_count)
    ]
    cluster = {"worker": workers, **({"ps": servers} if servers else {})}
    tasks = [("worker", i) for i in range(len(workers))] + [("ps", i) for i in range(len(servers))]
    return [
        {
            "TF_CONFIG": json.dumps(
                {"cluster": cluster, "task": {"type": kind, "index": index}, "environment": "cloud"}
            )
        }
        for kind, index in tasks
    ]


def launcher_argv(command: str, dist: Optional[Distribution], instance_count: int) -> List[str]:
    """What runs inside the environment: `bash -c <command>` for one process, else a
    launcher (the command travels in AMLOPS_COMMAND, set by the runtime)."""
    count = process_count(dist, instance_count)
    if dist is None or count == 1 and dist.type != "mpi":
        return ["bash", "-c", command]
    if dist.type == "mpi":
        return ["bash", "-c", MPI % {"n": count, "port": MASTER_PORT}]
    starts = []
    for rank, env in enumerate(process_environments(dist, instance_count)):
        assigned = " ".join(shlex.quote(f"{k}={v}") for k, v in env.items())
        starts.append(START % {"env": assigned, "log": f"std_log_process_{rank}.txt"})
    return ["bash", "-c", LAUNCHER % {"starts": "\n".join(starts)}]


def launcher_env(command: str, argv: List[str]) -> Dict[str, str]:
    """Variables the launcher needs (none for a plain `bash -c <command>`)."""
    return {} if argv[2] == command else {"AMLOPS_COMMAND": command}
