"""The serving engine on the project's tiny model: batched generation gives the same tokens as
one-at-a-time `generate`, in far fewer forward passes; priorities, a full queue, cancellation."""

from __future__ import annotations

import asyncio
import threading

import pytest
import torch

from axops.runtime.engine import Draining, Engine, QueueFull, Sampling, Sequence, deliver_to

PROMPTS = [
    "안녕하세요 고객님",
    "hello world",
    "The model",
    "계좌 번호는",
    "a",
    "모델 배포를 요청합니다 지금 바로",
    "GPU",
    "데이터셋",
]


@pytest.fixture(scope="module")
def tiny(demo_dirs):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(demo_dirs[0]).eval(), AutoTokenizer.from_pretrained(demo_dirs[0])


def reference(model, tokenizer, prompt: str, n: int) -> list[int]:
    ids = tokenizer(prompt, return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=n, do_sample=False, pad_token_id=tokenizer.eos_token_id)[
        0, ids["input_ids"].shape[1] :
    ]
    tokens = out.tolist()
    return tokens[: tokens.index(tokenizer.eos_token_id)] if tokenizer.eos_token_id in tokens else tokens


async def generate_all(engine: Engine, tokenizer, prompts, stagger_s: float = 0.0, **sampling):
    loop = asyncio.get_running_loop()

    async def one(i, prompt):
        await asyncio.sleep(stagger_s * i)
        queue: asyncio.Queue = asyncio.Queue()
        seq = Sequence(
            tokenizer(prompt)["input_ids"], Sampling(max_tokens=12 + 3 * i, **sampling), 0, deliver_to(loop, queue)
        )
        engine.submit(seq)
        while (event := await queue.get()).finish_reason is None:
            pass
        return seq.generated, event

    return await asyncio.gather(*(one(i, p) for i, p in enumerate(prompts)))


@pytest.mark.parametrize("stagger_s", [0.0, 0.004])
def test_batched_generation_matches_generate_and_shares_forward_passes(tiny, stagger_s):
    model, tokenizer = tiny
    results = {}
    for max_batch in (1, 16):
        engine = Engine(model, tokenizer, max_batch=max_batch, batch_window_s=0.02)
        engine.start()
        try:
            results[max_batch] = (
                asyncio.run(generate_all(engine, tokenizer, PROMPTS, stagger_s, temperature=0)),
                engine.steps,
            )
        finally:
            engine.stop()
    for i, prompt in enumerate(PROMPTS):
        expected = reference(model, tokenizer, prompt, 12 + 3 * i)
        assert results[1][0][i][0] == expected
        assert results[16][0][i][0] == expected  # joining and leaving the batch changes nothing
        assert results[16][0][i][1].completion_tokens == len(expected)
    one_at_a_time, batched = results[1][1], results[16][1]
    assert one_at_a_time >= sum(len(r[0]) for r in results[1][0]) - len(PROMPTS)
    assert batched * 3 < one_at_a_time  # the sequences shared their decode steps


def test_stop_strings_seeds_and_limits(tiny):
    model, tokenizer = tiny
    engine = Engine(model, tokenizer, max_batch=4)
    engine.start()
    try:
        free = asyncio.run(generate_all(engine, tokenizer, ["hello"], temperature=1.0, seed=3))[0]
        text = tokenizer.decode(free[0], skip_special_tokens=True)
        at = next(
            i
            for i in range(1, len(text) - 1)
            if text[i : i + 2].strip() == text[i : i + 2] and "\ufffd" not in text[i : i + 2]
        )
        stop = text[at : at + 2]

        async def with_stop():
            loop = asyncio.get_running_loop()
            queue: asyncio.Queue = asyncio.Queue()
            engine.submit(
                Sequence(
                    tokenizer("hello")["input_ids"],
                    Sampling(max_tokens=12, temperature=1.0, seed=3, stop=[stop]),
                    0,
                    deliver_to(loop, queue),
                )
            )
            out = ""
            while (event := await queue.get()).finish_reason is None:
                out += event.text
            return out + event.text, event.finish_reason

        out, reason = asyncio.run(with_stop())
        assert reason == "stop" and out == text[: text.index(stop)]
        a = asyncio.run(generate_all(engine, tokenizer, ["데이터"] * 2, temperature=1.0, seed=7))
        assert a[0][0] == asyncio.run(generate_all(engine, tokenizer, ["데이터"], temperature=1.0, seed=7))[0][0]
    finally:
        engine.stop()


def test_priorities_full_queue_cancellation_and_drain(tiny):
    model, tokenizer = tiny
    engine = Engine(model, tokenizer, max_batch=1, max_queue=3)  # not started: requests wait in the queue
    order: list[str] = []
    done = threading.Event()

    def deliver(name):
        def on(event):
            if event.finish_reason:
                order.append(name)
                if len(order) == 3:
                    done.set()

        return on

    ids = tokenizer("hi")["input_ids"]
    engine.submit(Sequence(ids, Sampling(max_tokens=2, temperature=0), 0, deliver("low")))
    engine.submit(Sequence(ids, Sampling(max_tokens=2, temperature=0), 5, deliver("high")))
    cancelled = Sequence(ids, Sampling(max_tokens=2, temperature=0), 9, deliver("cancelled"))
    engine.submit(cancelled)
    with pytest.raises(QueueFull):
        engine.submit(Sequence(ids, Sampling(max_tokens=2, temperature=0), 0, deliver("x")))
    cancelled.cancel()
    engine.start()
    try:
        assert done.wait(30)
        assert order == ["cancelled", "high", "low"]  # the cancelled one ends first, without generating
        assert cancelled.generated == []
        engine.draining = True
        with pytest.raises(Draining):
            engine.submit(Sequence(ids, Sampling(max_tokens=2), 0, deliver("late")))
    finally:
        engine.stop()


def test_non_finite_logits_fail_the_requests_not_the_engine(tiny):
    model, tokenizer = tiny
    broken = type(model).from_pretrained(model.name_or_path).eval()
    with torch.no_grad():
        broken.transformer.wte.weight.fill_(float("nan"))
    engine = Engine(broken, tokenizer, max_batch=4)
    engine.start()
    try:
        results = asyncio.run(generate_all(engine, tokenizer, ["a", "b"], temperature=0))
        assert all(event.finish_reason == "error" and "non-finite" in event.error for _, event in results)
        assert engine.idle()
    finally:
        engine.stop()
