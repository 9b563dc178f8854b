"""The axops training entrypoint: one fine-tuning job (one process, or one per rank under torchrun).

    python -m axops.runtime.train --job-id ID --control-url http://axops:8000       (token in AXOPS_RUNTIME_TOKEN)
    python -m torch.distributed.run --standalone --nproc-per-node 2 -m axops.runtime.train --job-id ID ...   (DDP)

It reads its spec from the control plane, fetches the base model version (checksums verified)
and the dataset versions (their Parquet copies), builds the training texts from the column
mapping, and runs the Hugging Face Trainer — full fine-tune or LoRA (peft). Rank 0 reports
loss, learning rate, grad norm, tokens/s and GPU memory as it goes, uploads every checkpoint,
and at the end uploads the merged weights, which the control plane registers as a new model
version with its lineage. Resuming starts from the latest uploaded checkpoint.

Failures are classified for people: exit code 2 after reporting the kind and reason (data error,
out of memory, distributed, user code, checkpoint storage); a killed process is the executor's to
classify.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import sys
import tarfile
import tempfile
import time
import traceback
from pathlib import Path

import httpx

from axops.runtime.fetch import FetchError, fetch_version, version_info

log = logging.getLogger("axops.train")
EXIT_FAILED = 2


class JobFailure(Exception):
    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind, self.reason = kind, reason


class ControlPlane:
    """What the runtime asks of and tells the control plane, with the job's own key."""

    def __init__(self, url: str, token: str, job_id: str) -> None:
        self.url, self.token, self.job_id = url.rstrip("/"), token, job_id
        self.http = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=httpx.Timeout(60, read=600)
        )
        self.base = f"/api/training/job/{job_id}"

    def spec(self) -> dict:
        r = self.http.get(f"{self.base}/spec")
        r.raise_for_status()
        return r.json()

    def report(self, **payload) -> None:
        r = self.http.post(f"{self.base}/report", json=payload)
        if r.status_code == 409:  # the job was cancelled: stop
            raise JobFailure("cancelled", r.json().get("detail", "cancelled"))
        r.raise_for_status()

    def dataset_parquet(self, version_id: str, into: Path) -> Path:
        path = into / f"{version_id}.parquet"
        with self.http.stream("GET", f"/api/dataset/version/{version_id}/download", params={"format": "parquet"}) as r:
            if r.status_code != 200:
                raise JobFailure("data", f"dataset version {version_id} could not be read (HTTP {r.status_code})")
            with path.open("wb") as out:
                for chunk in r.iter_bytes(1024 * 1024):
                    out.write(chunk)
        return path

    def upload_checkpoint(self, step: int, directory: Path) -> None:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            tar.add(directory, arcname=".")
        try:
            r = self.http.put(
                f"/api/training/upload/{self.job_id}/checkpoints/{step}",
                content=buffer.getvalue(),
                headers={"Content-Type": "application/x-tar"},
            )
        except httpx.TransportError as exc:
            raise JobFailure("checkpoint", f"checkpoint {step} could not be stored: {type(exc).__name__}") from exc
        if r.status_code >= 400:
            raise JobFailure(
                "checkpoint", f"checkpoint {step} could not be stored: {r.json().get('detail', r.status_code)}"
            )

    def latest_checkpoint(self, into: Path) -> Path | None:
        r = self.http.get(f"{self.base}/checkpoints/latest")
        if r.status_code == 404:
            return None
        r.raise_for_status()
        step = int(r.headers["x-axops-step"])
        target = into / f"checkpoint-{step}"
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(r.content), mode="r") as tar:
            tar.extractall(target, filter="data")
        return target

    def upload_output(self, directory: Path) -> dict:
        files = [("files", (p.name, p.open("rb"))) for p in sorted(directory.iterdir()) if p.is_file()]
        try:
            r = self.http.post(f"/api/training/upload/{self.job_id}/output", files=files)
        finally:
            for _, (_, f) in files:
                f.close()
        if r.status_code >= 400:
            raise JobFailure(
                "checkpoint", f"the trained model could not be registered: {r.json().get('detail', r.status_code)}"
            )
        return r.json()


def build_texts(parquet_paths: list[Path], mapping: dict, tokenizer) -> list[str]:
    """Training texts from the column mapping: `text`, or `prompt` + `response`, or chat `messages`."""
    import pyarrow.parquet as pq

    texts: list[str] = []
    for path in parquet_paths:
        table = pq.read_table(path, columns=[c for c in mapping.values() if c])
        columns = {role: table.column(name).to_pylist() for role, name in mapping.items() if name}
        for i in range(table.num_rows):
            if "messages" in columns:
                raw = columns["messages"][i]
                messages = json.loads(raw) if isinstance(raw, str) else raw
                if not messages:
                    continue
                text = (
                    tokenizer.apply_chat_template(messages, tokenize=False)
                    if tokenizer.chat_template
                    else "".join(f"{m['role']}: {m['content']}\n" for m in messages)
                )
            elif "prompt" in columns:
                prompt, response = columns["prompt"][i], columns.get("response", [None] * table.num_rows)[i]
                if not prompt and not response:
                    continue
                text = f"{prompt or ''}\n{response or ''}"
            else:
                text = columns["text"][i]
            if isinstance(text, str) and text.strip():
                texts.append(text)
    if not texts:
        raise JobFailure(
            "data", f"the mapped column(s) {', '.join(c for c in mapping.values() if c)} hold no text in any row"
        )
    return texts


class _Tokenized:
    def __init__(self, texts: list[str], tokenizer, max_length: int) -> None:
        self.rows = [tokenizer(t, truncation=True, max_length=max_length)["input_ids"] for t in texts]
        self.tokens = sum(len(r) for r in self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        return {"input_ids": self.rows[i]}


def _reporter(cp: ControlPlane, tokens_per_step: float):
    from transformers import TrainerCallback

    class Reporter(TrainerCallback):
        """Rank 0 tells the control plane how training goes, and stores each checkpoint."""

        def __init__(self) -> None:
            self.last = time.perf_counter()
            self.last_step = 0

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero or not logs:
                return
            now = time.perf_counter()
            steps = state.global_step - self.last_step
            metrics = {
                k: float(v)
                for k, v in logs.items()
                if isinstance(v, int | float) and k in ("loss", "learning_rate", "grad_norm", "epoch")
            }
            if steps > 0 and now > self.last:
                metrics["tokens_per_s"] = tokens_per_step * steps * args.world_size / (now - self.last)
            metrics.update(_gpu_memory())
            metrics.update(_system_metrics())
            self.last, self.last_step = now, state.global_step
            cp.report(
                progress={"step": state.global_step, "max_steps": state.max_steps, "epoch": state.epoch},
                metrics=[
                    {"key": k, "value": v, "step": state.global_step, "timestamp": int(time.time() * 1000)}
                    for k, v in metrics.items()
                ],
            )

        def on_save(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                directory = Path(args.output_dir) / f"checkpoint-{state.global_step}"
                cp.upload_checkpoint(state.global_step, directory)
                cp.report(checkpoint={"step": state.global_step})

    return Reporter()


def _gpu_memory() -> dict:
    import torch

    if not torch.cuda.is_available():
        return {}
    return {"gpu_memory_gb": torch.cuda.max_memory_allocated() / 2**30}


def _system_metrics() -> dict:
    """The machine as MLflow's system metrics name it: CPU since the last call, memory, and this
    job's GPUs (those CUDA_VISIBLE_DEVICES names) through NVML when there are any."""
    import psutil

    from axops import hardware

    memory = psutil.virtual_memory()
    found = {
        "system/cpu_utilization_percentage": psutil.cpu_percent(None),
        "system/system_memory_usage_megabytes": (memory.total - memory.available) / 2**20,
        "system/system_memory_usage_percentage": memory.percent,
    }
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    mine = {int(i) for i in visible.split(",") if i.strip().isdigit()} if visible else None
    for n, gpu in enumerate(g for g in hardware.gpus(details=True) if mine is None or g["index"] in mine):
        found[f"system/gpu_{n}_utilization_percentage"] = float(gpu["utilization_percent"])
        found[f"system/gpu_{n}_memory_usage_megabytes"] = gpu["memory_used_bytes"] / 2**20
    return found


# ZeRO stage 2 (optimizer state and gradients sharded); "auto" values are filled in from the Trainer's arguments
DEEPSPEED_ZERO2 = {
    "zero_optimization": {"stage": 2, "overlap_comm": True, "contiguous_gradients": True},
    "bf16": {"enabled": "auto"},
    "fp16": {"enabled": "auto"},
    "train_batch_size": "auto",
    "train_micro_batch_size_per_gpu": "auto",
    "gradient_accumulation_steps": "auto",
    "gradient_clipping": "auto",
}


def _strategy(distributed: str) -> dict:
    """The Trainer's arguments for a distributed strategy beyond DDP (which torchrun alone gives)."""
    if distributed == "fsdp":  # parameters, gradients and optimizer state sharded across the processes
        return {
            "fsdp": "full_shard auto_wrap",
            "fsdp_config": {"use_orig_params": True},
        }  # orig params: LoRA trains a few of them
    if distributed == "deepspeed":
        try:
            import deepspeed  # noqa: F401
        except ImportError:
            raise JobFailure(
                "user_code", "distributed 'deepspeed' needs the deepspeed package in the runtime image"
            ) from None
        return {"deepspeed": DEEPSPEED_ZERO2}
    return {}


def _quantized(auto_model, base: Path, compute_dtype):
    try:
        import bitsandbytes  # noqa: F401
        from transformers import BitsAndBytesConfig
    except ImportError:
        raise JobFailure("user_code", "method 'qlora' needs the bitsandbytes package in the runtime image") from None
    from peft import prepare_model_for_kbit_training

    config = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute_dtype,
    )
    return prepare_model_for_kbit_training(auto_model.from_pretrained(base, quantization_config=config))


def run(cp: ControlPlane, spec: dict, work: Path, cache: Path) -> None:
    import torch
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        DataCollatorForLanguageModeling,
        Trainer,
        TrainingArguments,
    )

    rank0 = int(os.environ.get("RANK", "0")) == 0
    hp = spec["hyperparameters"]
    base = fetch_version(cp.url, cp.token, version_info(cp.url, cp.token, spec["base_version_id"]), cache)
    data_dir = work / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    paths = [cp.dataset_parquet(v, data_dir) for v in spec["dataset_version_ids"]]
    tokenizer = AutoTokenizer.from_pretrained(base)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    texts = build_texts(paths, spec["column_mapping"], tokenizer)
    dataset = _Tokenized(texts, tokenizer, hp["max_seq_length"])
    cuda = torch.cuda.is_available()
    precision = hp.get("precision", "auto")
    bf16 = cuda and (precision == "bf16" or (precision == "auto" and torch.cuda.is_bf16_supported()))
    fp16 = cuda and not bf16 and precision in ("fp16", "auto")
    adapter = spec["method"] in ("lora", "qlora")
    if (
        spec["method"] == "qlora"
    ):  # the base in 4-bit NF4, LoRA adapters trained on top (the service allows it only with GPUs)
        model = _quantized(AutoModelForCausalLM, base, torch.bfloat16 if bf16 else torch.float16)
    else:
        model = AutoModelForCausalLM.from_pretrained(base)
    if adapter:
        from peft import LoraConfig, get_peft_model

        lora = spec["lora"]
        model = get_peft_model(
            model,
            LoraConfig(
                r=lora["r"],
                lora_alpha=lora["alpha"],
                lora_dropout=lora["dropout"],
                target_modules=lora.get("target_modules") or None,
                task_type="CAUSAL_LM",
            ),
        )
    args = TrainingArguments(
        output_dir=str(work / "checkpoints"),
        max_steps=hp.get("max_steps") or -1,
        num_train_epochs=hp.get("epochs") or 1,
        learning_rate=hp["learning_rate"],
        lr_scheduler_type=hp["lr_scheduler"],
        warmup_steps=hp.get("warmup_steps", 0),
        per_device_train_batch_size=hp["batch_size"],
        gradient_accumulation_steps=hp["gradient_accumulation_steps"],
        seed=hp["seed"],
        save_steps=hp["save_steps"],
        save_total_limit=2,
        logging_steps=hp.get("logging_steps", 1),
        logging_first_step=True,
        report_to=[],
        use_cpu=not cuda,
        bf16=bf16,
        fp16=fp16,
        ddp_backend=("nccl" if cuda else "gloo") if int(os.environ.get("WORLD_SIZE", "1")) > 1 else None,
        disable_tqdm=True,
        dataloader_num_workers=0,
        save_only_model=False,
        **_strategy(spec.get("distributed", "none")),
    )
    tokens_per_step = dataset.tokens / max(1, len(dataset)) * hp["batch_size"] * hp["gradient_accumulation_steps"]
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=dataset,
        callbacks=[_reporter(cp, tokens_per_step)],
        data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False),
    )
    resume = cp.latest_checkpoint(work / "checkpoints") if spec.get("resume") else None
    if resume and rank0:
        print(f"axops-train: resuming from {resume.name}", flush=True)
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    if not rank0:
        return
    if spec["method"] == "qlora":  # merge into the base in full precision, not into its 4-bit copy
        from peft import PeftModel

        trainer.model.save_pretrained(work / "adapter")
        full = AutoModelForCausalLM.from_pretrained(base, torch_dtype=torch.bfloat16 if bf16 else torch.float16)
        final = PeftModel.from_pretrained(full, work / "adapter").merge_and_unload()
    else:
        final = trainer.model.merge_and_unload() if adapter else trainer.model
    out = work / "output"
    final.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    (out / "README.md").write_text(_card(spec), encoding="utf-8")
    version = cp.upload_output(out)
    print(f"axops-train: registered model version {version.get('version')} ({version.get('id')})", flush=True)


def _card(spec: dict) -> str:
    hp = spec["hyperparameters"]
    return (
        f"---\nlicense: {spec.get('license') or 'other'}\ntags: [fine-tuned, {spec['method']}]\n---\n"
        f"# {spec.get('output_model_name', 'fine-tuned model')}\n\nFine-tuned by axops job `{spec['job_id']}` "
        f"({spec['method']}, learning rate {hp['learning_rate']}, batch {hp['batch_size']}) from base version "
        f"`{spec['base_version_id']}` on dataset versions {', '.join(f'`{v}`' for v in spec['dataset_version_ids'])}.\n"
    )


def classify(exc: BaseException) -> tuple[str, str]:
    """(kind, reason) of a failure, for the job page."""
    if isinstance(exc, JobFailure):
        return exc.kind, exc.reason
    if isinstance(exc, FetchError):
        return "data", str(exc)
    text = f"{type(exc).__name__}: {exc}"
    low = text.lower()
    if "out of memory" in low or type(exc).__name__ == "OutOfMemoryError":
        return "oom", f"out of memory: {str(exc)[:300]} — lower the batch size or max sequence length, or use LoRA"
    if any(w in low for w in ("nccl", "gloo", "process group", "rendezvous", "distributed")):
        return "distributed", f"distributed training failed: {text[:300]}"
    if isinstance(exc, KeyError | ValueError | TypeError) and "column" in low:
        return "data", text[:300]
    return "user_code", text[:400]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m axops.runtime.train", description=__doc__.split("\n")[0])
    parser.add_argument("--job-id", required=True)
    parser.add_argument("--control-url", default=os.environ.get("AXOPS_RUNTIME_CONTROL_URL", "http://127.0.0.1:8000"))
    parser.add_argument(
        "--cache-dir", type=Path, default=Path(os.environ.get("AXOPS_RUNTIME_CACHE_DIR", ".axops/runtime-cache"))
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stderr)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    cp = ControlPlane(args.control_url, os.environ.get("AXOPS_RUNTIME_TOKEN", ""), args.job_id)
    rank0 = int(os.environ.get("RANK", "0")) == 0
    try:
        spec = cp.spec()
        with tempfile.TemporaryDirectory(prefix=f"axops-job-{args.job_id[:8]}-") as tmp:
            run(cp, spec, Path(tmp), args.cache_dir)
    except Exception as exc:
        kind, reason = classify(exc)
        traceback.print_exc()
        print(f"axops-train: failed ({kind}): {reason}", file=sys.stderr, flush=True)
        if rank0 and kind != "cancelled":
            try:
                cp.report(failure={"kind": kind, "reason": reason})
            except Exception:
                log.warning("train.report_failed", exc_info=True)
        return EXIT_FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())
