"""What the Bedrock path costs beside the Anthropic path: the same proxy, the same Claude-Code-shaped
requests, one run; one proxy's policy sends every turn to the fake Anthropic (bytes relayed), the
other's to the fake Bedrock (the body translated and SigV4-signed, the AWS event stream decoded into
SSE, the proxy's pings armed).

    .venv/bin/python bench/provider_path.py            # about 3 minutes
    .venv/bin/python bench/provider_path.py --quick    # about 1 minute

CPU per request at saturation: a closed loop against instant fakes, the two proxies in alternating
slices (ABAB, so the machine's drift hits both). Added TTFB: an open loop at fixed rates against
paced fakes (20 ms between events), every round one request through each path in random order; the
figure is the Bedrock path's percentile minus the Anthropic path's. Both proxies run on core 0 (one
at a time is loaded), the fakes, the generator and the OTLP sink on core 1. Issue 17's target: the
Bedrock path at most 1.5× the Anthropic path's CPU per request. See bench/README.md.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

from bench.entry import run_bench
from bench.loadgen import Phase
from bench.proxy_overhead import MIX_50KB, MIX_CLAUDE, Plan, Run
from bench.report import comparison_table, saturation_table
from bench.stack import Service, start_proxy, start_upstream
from sim.fake_credentials import TEST_AWS_ACCESS_KEY_ID, TEST_AWS_SECRET_ACCESS_KEY

BEDROCK_MODEL = "us.anthropic.claude-haiku-4-5-20251001-v1:0"


def _bedrock_proxy(run: Run, bedrock: Service, anthropic: Service, workdir: Path, name: str) -> Service:
    policy = {"version": "bench-bedrock", "default": {"route": ["bedrock"]}, "targets": [
        {"name": "bedrock", "provider": "bedrock", "base_url": bedrock.url, "region": "us-east-1",
         "model": BEDROCK_MODEL}]}
    policy_file = workdir / f"{name}-policy.yaml"
    policy_file.write_text(yaml.safe_dump(policy))
    env = {"SWITCHYARD_POLICY_FILE": str(policy_file), "SWITCHYARD_ALLOWED_UPSTREAMS": f'["{bedrock.url}"]',
           "AWS_ACCESS_KEY_ID": TEST_AWS_ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": TEST_AWS_SECRET_ACCESS_KEY,
           "AWS_CONFIG_FILE": str(workdir / "no-aws-config"), "AWS_SHARED_CREDENTIALS_FILE": str(workdir / "none"),
           "AWS_EC2_METADATA_DISABLED": "true"}
    proxy, _ = start_proxy(run.group, upstream=anthropic, sink=run.sink, keys_file=run.keys_file, key=run.key,
                           name=name, env=env)
    return proxy


def _stack(run: Run, workdir: Path, *, instant: bool) -> tuple[Service, Service]:
    """(Anthropic-path proxy, Bedrock-path proxy), each in front of its fake."""
    anthropic = start_upstream(run.group, instant=instant)
    # Bedrock sends no ping after message_start, Anthropic does: one text delta more gives the load
    # generator the same number of events (24) to check each answer by
    bedrock = start_upstream(run.group, instant=instant, fake="sim.bedrock", text_deltas=19)
    run.sampler.watch("upstream", anthropic.proc.pid)
    run.sampler.watch("other-upstream", bedrock.proc.pid)
    anthropic_proxy, _ = start_proxy(run.group, upstream=anthropic, sink=run.sink, keys_file=run.keys_file,
                                     key=run.key, name="proxy")
    bedrock_proxy = _bedrock_proxy(run, bedrock, anthropic, workdir, "baseline")
    run.sampler.watch("proxy", anthropic_proxy.proc.pid)
    run.sampler.watch("baseline", bedrock_proxy.proc.pid)
    return anthropic_proxy, bedrock_proxy


def measure(plan: Plan, workdir: Path, *, pin: bool) -> str:
    lines: list[str] = []
    with Run.open(workdir, pin=pin) as run:
        anthropic_proxy, bedrock_proxy = _stack(run, workdir, instant=True)
        relays = [("proxy", anthropic_proxy), ("baseline", bedrock_proxy)]
        rows = (run.saturate(relays, "~50 KB", MIX_50KB, plan) + run.saturate(relays, "20–200 K history", MIX_CLAUDE,
                                                                                plan))
        # the sampler's names: "proxy" is the Anthropic path, "baseline" the Bedrock path
        rows = [dataclasses.replace(row, label=row.label.replace(", baseline", ", Bedrock path")) for row in rows]
        lines += ["CPU per request at saturation (instant fakes, closed loop; CPU-ms from /proc of each proxy):",
                  saturation_table(rows), "",
                  "Bedrock path ÷ Anthropic path: " + ", ".join(
                      f"{b.cpu_ms_per_request / a.cpu_ms_per_request:.2f}× ({a.label})"
                      for a, b in zip(rows[::2], rows[1::2], strict=True)), ""]
    with Run.open(workdir / "paced", pin=pin) as run:
        anthropic_proxy, bedrock_proxy = _stack(run, workdir, instant=False)
        phases = [("warm-up", Phase(rate=2, duration_s=plan.warmup_s), False)]
        for (streams, _), seconds in zip(plan.levels[:2], plan.level_s[:2], strict=True):
            phases.append((f"{streams * 2} req/s", Phase(rate=streams * 2, duration_s=seconds), True))
        comparisons = run.compare(anthropic_proxy, bedrock_proxy, phases, mix=MIX_CLAUDE)
        lines += ["Added latency of the Bedrock path (open loop, paced fakes; 'direct' = the Anthropic path,",
                  "'proxy' = the Bedrock path, so the difference is what Bedrock costs beyond Anthropic):",
                  comparison_table(comparisons)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    run_bench(__doc__ or "", lambda plan, workdir, pin: measure(plan, workdir, pin=pin), "switchyard-bench-providers-",
              argv)


if __name__ == "__main__":
    main()
