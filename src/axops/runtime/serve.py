"""The axops model server: one process per replica.

    python -m axops.runtime.serve --model-dir DIR --port 9000
    python -m axops.runtime.serve --version-id ID --control-url http://axops:8000 --port 9000   (token in AXOPS_RUNTIME_TOKEN)

Fetches the version into a local cache (checksums verified), checks the weights, loads, warms
up (loading.py), then serves OpenAI-compatible `/v1/chat/completions`, `/v1/completions`,
`/v1/embeddings` and `/v1/models` (api.py) with continuous batching (engine.py). `/health` answers while the
process lives (with queue figures, which the local executor scales on); `/ready` only after the
warm-up and until a drain starts. SIGTERM drains: new requests get 503, running ones finish.

With AXOPS_RUNTIME_SERVE_TOKEN set (always, for a deployment's replica: `--version-id` refuses to
start without it), every `/v1` request needs `Authorization: Bearer <that token>` — the gateway
sends it — else 401. `/health`, `/ready` (probes) and `/metrics` (Prometheus: request counts and
load figures, no content) stay open.

Exit codes: 3 — the version cannot be served as stored (missing or corrupt files, too large for
the memory allowed); not worth a restart.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import uvicorn

from axops.runtime import engine as eng
from axops.runtime.api import Runtime, build_app
from axops.runtime.fetch import FetchError, check_weights
from axops.runtime.loading import load_model, materialise, pick_device, warm_up

log = logging.getLogger("axops.runtime")
EXIT_UNSERVABLE = 3


class DrainingServer(uvicorn.Server):
    """On SIGTERM/SIGINT: stop admitting (ready → 503), let running requests finish, then exit."""

    def __init__(self, config: uvicorn.Config, engine: eng.Engine, drain_timeout_s: float) -> None:
        super().__init__(config)
        self.engine, self.drain_timeout_s = engine, drain_timeout_s
        self._drain_started = False

    def handle_exit(self, sig: int, frame) -> None:
        if self._drain_started:  # a second signal: stop now
            return super().handle_exit(sig, frame)
        self._drain_started = True
        self.engine.draining = True
        log.info("runtime.draining queued=%d running=%d", self.engine.queued, self.engine.running)
        deadline = time.monotonic() + self.drain_timeout_s

        def wait_then_exit() -> None:
            while not self.engine.idle() and time.monotonic() < deadline:
                time.sleep(0.05)
            self.should_exit = True

        import threading

        threading.Thread(target=wait_then_exit, daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m axops.runtime.serve", description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", type=Path, help="a Hugging Face model directory (instead of fetching a version)")
    parser.add_argument("--version-id", help="registry version to fetch from the control plane")
    parser.add_argument("--control-url", default=os.environ.get("AXOPS_RUNTIME_CONTROL_URL", "http://127.0.0.1:8000"))
    parser.add_argument(
        "--cache-dir", type=Path, default=Path(os.environ.get("AXOPS_RUNTIME_CACHE_DIR", ".axops/runtime-cache"))
    )
    parser.add_argument("--served-name", default=None, help="the model name in answers and /v1/models")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--engine", choices=["auto", "transformers", "vllm"], default="auto")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--max-batch", type=int, default=16, help="sequences generated together (1: no batching)")
    parser.add_argument(
        "--batch-window-ms", type=float, default=0.0, help="an idle engine waits this long to gather a batch"
    )
    parser.add_argument("--max-queue", type=int, default=256)
    parser.add_argument("--memory-limit-bytes", type=int, default=None)
    parser.add_argument("--drain-timeout-s", type=float, default=30.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stderr)
    started = time.perf_counter()
    token = os.environ.get("AXOPS_RUNTIME_SERVE_TOKEN") or None
    if args.version_id and token is None:
        print(
            "axops-runtime: cannot serve this version: AXOPS_RUNTIME_SERVE_TOKEN is not set (a deployment's replica never "
            "answers unauthenticated calls)",
            file=sys.stderr,
            flush=True,
        )
        return EXIT_UNSERVABLE
    if token is None:
        log.warning("runtime.no_token: /v1 answers anyone who can reach port %d", args.port)
    try:
        directory, base_directory, served = materialise(
            args.model_dir, args.version_id, args.control_url, args.cache_dir, args.served_name
        )
        check_weights(base_directory or directory)
        if args.engine == "vllm" or (args.engine == "auto" and _vllm_usable()):
            return _exec_vllm(args, directory, served, token)  # replaces this process
        device, dtype = pick_device(args.device)
        log.info("runtime.loading dir=%s device=%s dtype=%s", directory, device, dtype)
        model, tokenizer = load_model(directory, base_directory, device, dtype, args.memory_limit_bytes)
    except FetchError as exc:
        print(f"axops-runtime: cannot serve this version: {exc}", file=sys.stderr, flush=True)
        return EXIT_UNSERVABLE
    engine = eng.Engine(
        model,
        tokenizer,
        max_batch=max(1, args.max_batch),
        batch_window_s=args.batch_window_ms / 1000,
        max_queue=args.max_queue,
    )
    engine.start()
    warm_up(engine, tokenizer)
    runtime = Runtime(served, model, tokenizer, engine, time.perf_counter() - started)
    runtime.ready = True
    log.info(
        "runtime.ready port=%d load_seconds=%.2f max_context=%d", args.port, runtime.load_seconds, engine.max_context
    )
    config = uvicorn.Config(
        build_app(runtime, token),
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    server = DrainingServer(config, engine, args.drain_timeout_s)
    server.run()
    engine.stop()
    return 0


def _vllm_usable() -> bool:
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


def _exec_vllm(args, directory: Path, served: str, token: str | None) -> int:
    """Hand the process over to vLLM's OpenAI-compatible server (GPU machines with vllm installed);
    it requires the same token on /v1 (VLLM_API_KEY)."""
    if token:
        os.environ["VLLM_API_KEY"] = token
    command = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(directory),
        "--served-model-name",
        served,
        "--host",
        args.host,
        "--port",
        str(args.port),
        "--max-num-seqs",
        str(max(1, args.max_batch)),
    ]
    os.execv(sys.executable, command)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
