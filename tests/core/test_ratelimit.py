from core.ratelimit import TokenBucket, retry_after_header


def test_bucket_allows_a_burst_then_refills_at_the_rate() -> None:
    bucket = TokenBucket.full(60, now=0.0)  # one a second
    assert [bucket.take(0.0) for _ in range(60)] == [0.0] * 60
    wait = bucket.take(0.0)
    assert 0.99 < wait <= 1.0
    assert bucket.take(0.5) > 0  # half a token is not enough
    assert bucket.take(1.01) == 0.0


def test_retry_after_is_whole_seconds_rounded_up() -> None:
    assert [retry_after_header(s) for s in (0.01, 1.0, 1.2, 59.5)] == ["1", "1", "2", "60"]
