from axops.serving.canary import judge

POLICY = {"max_error_rate": 0.2, "max_p95_ms": 500, "window_s": 60, "min_requests": 10}


def test_a_canary_is_judged_on_its_own_errors_and_latency():
    assert judge(POLICY, [{"requests": 9, "errors": 5, "p95_ms": 10}]) is None  # too few requests to tell
    assert (
        judge(POLICY, [{"requests": 6, "errors": 1, "p95_ms": 10}, {"requests": 6, "errors": 1, "p95_ms": 12}]) is None
    )
    reason = judge(POLICY, [{"requests": 6, "errors": 2, "p95_ms": 10}, {"requests": 6, "errors": 1, "p95_ms": 12}])
    assert reason.startswith("error rate 25%") and "(3 of 12)" in reason
    assert "p95 latency 900 ms" in judge(POLICY, [{"requests": 20, "errors": 0, "p95_ms": 900}])
    assert judge({**POLICY, "max_p95_ms": None}, [{"requests": 20, "errors": 0, "p95_ms": 900}]) is None
    # the gateway's breaker lets only three requests reach a failing upstream: all three failing is enough
    assert judge(POLICY, [{"requests": 3, "errors": 3, "p95_ms": None}]).startswith("error rate 100%")
    assert judge(POLICY, [{"requests": 3, "errors": 2, "p95_ms": None}]) is None
    assert judge({}, [{"requests": 50, "errors": 50}]) is None
