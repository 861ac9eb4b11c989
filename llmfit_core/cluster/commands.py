"""The launch command lines of a plan, one per machine, for each engine (nothing is started: the plan prints them).

llama.cpp: tools/rpc/README.md (`ggml-rpc-server`, named `rpc-server` in builds before 2026; `--rpc`,
`--tensor-split` in the order `--list-devices` prints: RPC devices first). vLLM: `vllm serve` with
`--tensor-parallel-size`, `--pipeline-parallel-size`, multi-node `--nnodes/--node-rank/--master-addr`, workers
`--headless`. SGLang: `python -m sglang.launch_server --tp --pp-size --nnodes --node-rank --dist-init-addr`.
exo: `exo` on every Mac (auto-discovery), then the placement preview and instance calls of its API (port 52415).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from llmfit_core.cluster import engines as eng
from llmfit_core.cluster.spec import ClusterSpec

RPC_PORT = 50052
SGLANG_INIT_PORT = 5000
EXO_API_PORT = 52415


@dataclass
class Command:
    node: str
    command: str

    def to_dict(self) -> dict:
        return {"node": self.node, "command": self.command}


def _gguf_arg(ref: str, quant: str | None) -> str:
    if re.fullmatch(r"[\w.\-]+/[\w.\-]+", ref):
        return f"-hf {shlex.quote(ref + (':' + quant if quant else ''))}"
    return f"-m {shlex.quote(ref)}"


def rpc_commands(ref: str, quant: str | None, cluster: ClusterSpec, split: eng.Split, context: int,
                 concurrency: int) -> list[Command]:
    out = [Command(m.name, f"ggml-rpc-server --host 0.0.0.0 --port {RPC_PORT} -c") for m in cluster.machines[1:]]
    head = cluster.machines[0]
    args = [f"llama-server {_gguf_arg(ref, quant)} -ngl 99 -c {context * concurrency}"]
    if concurrency > 1:
        args.append(f"-np {concurrency}")
    if len(cluster.machines) > 1:
        args.append("--rpc " + ",".join(f"{m.host}:{RPC_PORT}" for m in cluster.machines[1:]))
    if len(split.devices) > 1:
        args.append("--tensor-split " + ",".join(f"{s.tensor_split or 0:.2f}".rstrip("0").rstrip(".") or "0"
                                                for s in split.stages))
    out.append(Command(head.name, " ".join(args)))
    return out


def served_commands(engine: str, ref: str, cluster: ClusterSpec, split: eng.Split, context: int) -> list[Command]:
    machines = sorted({d.machine for d in split.devices})
    n = len(machines)
    head = cluster.machines[0]
    out = []
    for rank, mi in enumerate(machines):
        m = cluster.machines[mi]
        if engine == "vllm":
            line = (f"vllm serve {shlex.quote(ref)} --tensor-parallel-size {split.tp} --pipeline-parallel-size {split.pp} "
                    f"--max-model-len {context} --gpu-memory-utilization {eng.VLLM_GPU_MEMORY_UTILIZATION:.2f}")
            if n > 1:
                line += f" --nnodes {n} --node-rank {rank} --master-addr {head.host}" + (" --headless" if rank else "")
        else:
            line = (f"python -m sglang.launch_server --model-path {shlex.quote(ref)} --tp {split.tp} --pp-size {split.pp} "
                    f"--context-length {context}")
            if n > 1:
                line += f" --nnodes {n} --node-rank {rank} --dist-init-addr {head.host}:{SGLANG_INIT_PORT}"
        out.append(Command(m.name, line))
    return out


def exo_commands(ref: str, cluster: ClusterSpec, split: eng.Split) -> list[Command]:
    out = [Command(m.name, "exo") for m in cluster.machines]
    head = cluster.machines[0]
    api = f"http://{head.host}:{EXO_API_PORT}"
    sharding = "Tensor" if split.mode == "tensor" else "Pipeline"
    out.append(Command(head.name, f"curl -s '{api}/instance/previews?model_id={ref}'"))
    out.append(Command(head.name, f"curl -s -X POST {api}/instance -H 'Content-Type: application/json' "
                                  f"-d '{{\"model_id\": \"{ref}\", \"sharding\": \"{sharding}\"}}'"))
    return out


def launch_commands(engine: str, ref: str, quant: str | None, cluster: ClusterSpec, split: eng.Split, context: int,
                    concurrency: int = 1) -> list[Command]:
    if engine == "llama.cpp-rpc":
        return rpc_commands(ref, quant, cluster, split, context, concurrency)
    if engine in ("vllm", "sglang"):
        return served_commands(engine, ref, cluster, split, context)
    return exo_commands(ref, cluster, split)
