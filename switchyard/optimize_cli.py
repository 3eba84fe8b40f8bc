"""`switchyard optimize`: replay the last days of scored turns against threshold candidates, search
with Optuna and store the best guarded candidate as a proposal (status "proposed") for a human to
approve. With ``--watch`` it instead checks the active version against its predecessor and rolls
back on a quality regression. Mount with ``app.command("optimize")(optimize)``.

Exit codes: 0 a proposal was stored (or the watch found nothing wrong), 1 nothing to propose
(the reason is printed: among them a candidate the policy validator refuses, an optimizer bug that
is logged and never stored, and an active version that changed while the optimizer ran) or a
rollback happened, 2 the store could not be used.
"""

from __future__ import annotations

import getpass
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

# optuna, scikit-learn and the optimizer are imported inside the command: this module is loaded by
# every `switchyard` invocation, and those imports take seconds.


def _actor() -> str:
    try:
        return f"optimizer:{getpass.getuser()}"
    except OSError:  # no login name (e.g. a container without USER)
        return "optimizer"


def read_developer_tiers(path: Path) -> dict[str, str]:
    """developer → tier from a YAML file mapping each tier to a list of developers; ValueError
    saying what is wrong (unreadable, not that shape, a developer in two tiers)."""
    import yaml

    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ValueError(f"--developer-tiers {path}: cannot read it ({error.__class__.__name__})") from None
    if not isinstance(document, dict) or not document:
        raise ValueError(f"--developer-tiers {path}: expected a mapping of tier → list of developers")
    found: dict[str, str] = {}
    for tier, developers in document.items():
        if not isinstance(tier, str) or not tier.strip() or not isinstance(developers, list) or not developers \
                or not all(isinstance(name, str) and name for name in developers):
            raise ValueError(f"--developer-tiers {path}: tier {tier!r} needs a non-empty list of developer names")
        for name in developers:
            if found.setdefault(name, tier) != tier:
                raise ValueError(f"--developer-tiers {path}: {name!r} is in tiers {found[name]!r} and {tier!r}")
    return found


def rule_lines(evidence: Mapping[str, Any]) -> list[str]:
    """What a proposal does with the rules before the tier rules: the pins it kept as written, the
    rules for a kind of work it re-routed."""
    lines = []
    kept = evidence.get("kept_as_written") or []
    if kept:
        lines.append("kept as written: " + ", ".join(f"{entry['rule']} ({entry['turns']:,} turns)" for entry in kept))
    moved = [entry for entry in evidence.get("reroutable_rules") or [] if entry["note"] == "re-routed"]
    if moved:
        lines.append("re-routed: " + ", ".join(f"{entry['rule']} {entry['route'][0]} → {entry['candidate_route'][0]} "
                                               f"({entry['turns']:,} turns)" for entry in moved))
    return lines


def optimize(
    days: Annotated[float, typer.Option(help="Replay the turns of this many days, up to now.")] = 7.0,
    trials: Annotated[int, typer.Option(min=1, help="Optuna trials (a short polish follows).")] = 300,
    seed: Annotated[int, typer.Option(help="Seeds the sampler, the outcome model and the bootstrap.")] = 0,
    min_ess: Annotated[float, typer.Option(help="Refuse when the effective sample size is below this.")] = 200.0,
    min_ess_sessions: Annotated[float, typer.Option(help="Refuse when the effective sample size counted in "
                                                         "sessions is below this.")] = 30.0,
    max_quality_loss: Annotated[float, typer.Option(min=0.0, max=1.0, help="The most quality (0..1) a proposal "
                                                    "may give up, however wide the active policy's interval.")]
    = 0.01,
    z: Annotated[float, typer.Option(help="Standard errors of caution on the quality floor (0: point estimate).")]
    = 1.96,
    database_url: Annotated[str | None, typer.Option(envvar="DATABASE_URL", help="The store (SQLite in "
                                                     "--data-dir if unset).")] = None,
    data_dir: Annotated[Path, typer.Option("--data-dir", envvar="SWITCHYARD_DATA_DIR",
                                           help="Where the SQLite store lives when no database URL is given.")]
    = Path("data"),
    shared_study: Annotated[str | None, typer.Option(help="Optuna study name on the store's database, so "
                                                          "several workers share it.")] = None,
    watch: Annotated[bool, typer.Option("--watch", help="Check the active version; roll back on regression.")]
    = False,
    window_hours: Annotated[float, typer.Option(help="--watch: the comparison window.")] = 24.0,
    developer_tiers: Annotated[Path | None, typer.Option(
        "--developer-tiers", help="YAML file mapping each developer tier to its developers "
        "(senior: [alice, bob]); each tier becomes a segment the search may give thresholds of its own.")] = None,
    held_out_share: Annotated[float, typer.Option(min=0.0, max=0.9, help="Share of the sessions held out of the "
                                                  "search to certify the proposal's claims (0: no split).")] = 0.5,
    min_explored_sessions: Annotated[int, typer.Option(min=0, help="Leave a segment unchanged when fewer explored "
                                                       "sessions back the change.")] = 10,
    min_saving: Annotated[float, typer.Option(min=0.0, max=0.99, help="Propose nothing that saves less than this "
                                              "share of the active policy's cost (0.01: 1 %).")] = 0.01,
    max_exploration_share: Annotated[float, typer.Option(min=0.0, max=0.5, help="When a change is refused for too "
                                                         "few explored sessions, propose exploring its segment at "
                                                         "up to this share of its sessions (0: never).")] = 0.1,
    propose_exploration: Annotated[bool, typer.Option(help="Write those exploration segments into the proposal "
                                                      "(alone when no routing change passes); off: only report "
                                                      "them in the evidence.")] = True,
) -> None:
    """Propose cheaper tier thresholds from stored, scored turns (or, with --watch, guard the active one)."""
    import optuna

    from core.pricing import builtin_price_table
    from optimizer.candidate import NotAThresholdPolicyError
    from optimizer.propose import Settings, propose
    from optimizer.watch import watch as watch_active
    from store.engine import default_database_url, make_engine
    from store.errors import NotFoundError

    console = Console()
    tiers = None
    if developer_tiers is not None:
        try:
            tiers = read_developer_tiers(developer_tiers)
        except ValueError as error:
            console.print(f"[red]{error}[/red]")
            raise typer.Exit(2) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the progress bar says it better
    engine = make_engine(database_url, data_dir=data_dir)
    # the shared Optuna study lives next to the store actually used
    study_database = database_url or default_database_url(data_dir)
    prices = builtin_price_table()
    now = datetime.now(UTC).replace(tzinfo=None)
    try:
        if watch:
            verdict = watch_active(engine, prices, window=timedelta(hours=window_hours), now=now, actor=_actor())
            console.print(f"{verdict.version}: {verdict.status}"
                          + (f" (Δquality {verdict.delta.value:+.4f}, CI {verdict.delta.low:+.4f} … "
                             f"{verdict.delta.high:+.4f})" if verdict.delta else ""))
            raise typer.Exit(1 if verdict.status == "rolled_back" else 0)
        settings = Settings(start=now - timedelta(days=days), end=now, seed=seed, trials=trials, min_ess=min_ess,
                            min_ess_sessions=min_ess_sessions, z=z, max_quality_loss=max_quality_loss,
                            database_url=study_database if shared_study else None, study_name=shared_study,
                            on_invalid="skip", developer_tiers=tiers, held_out_share=held_out_share,
                            min_explored_sessions=min_explored_sessions, min_saving=min_saving,
                            max_exploration_share=max_exploration_share, propose_exploration=propose_exploration)
        columns = (TextColumn("optimizing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task("trials", total=trials)
            outcome = propose(engine, prices, settings, actor=_actor(),
                              progress=lambda done, total: bar.update(task, completed=done, total=total))
    except (NotFoundError, NotAThresholdPolicyError) as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    console.print(f"{outcome.usable:,} of {outcome.turns:,} turns usable (scored, with a propensity)")
    if outcome.proposal is None:
        console.print(f"[red]nothing stored: {outcome.reason}[/red]" if outcome.skipped
                      else f"nothing to propose: {outcome.reason}")
        raise typer.Exit(1)
    console.print(outcome.diff_text or "")
    console.print(outcome.evidence["rationale"])
    for line in rule_lines(outcome.evidence):
        console.print(line)
    moved = [entry for entry in outcome.evidence.get("reroutable_rules") or [] if entry["note"] == "re-routed"]
    if moved:
        console.print("re-routed: " + ", ".join(f"{entry['rule']} {entry['route'][0]} → {entry['candidate_route'][0]} "
                                                f"({entry['turns']:,} turns)" for entry in moved))
    console.print(f"proposal {outcome.proposal.id} stored, status proposed")
