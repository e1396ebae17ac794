"""The ``platform`` command.

Exit codes: 0 done; 1 a study failed (the others still ran and were logged); 2 bad input (one line, no traceback);
130 (SIGINT) or 143 (SIGTERM) interrupted, with one line that says how to resume.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any, NoReturn

from reflectlab.core.errors import UserError
from reflectlab.core.tracking import DEFAULT_RESULTS_DIR as DEFAULT_RESULTS
from reflectlab.core.tracking import quiet_mlflow


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UserError(f"{self.prog}: {message}")


def _quiet() -> None:
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # Weight-loading and dataset bars from transformers and datasets; the platform shows its own on model work.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    quiet_mlflow()  # before anything imports mlflow: no telemetry, no artifact progress bars
    # Library chatter (deprecations, transformers' and TRL's advice) stays off the terminal; a plugin that tries
    # to replace a built-in component is the user's business and is always shown.
    warnings.filterwarnings("ignore")
    from reflectlab.core.registry import PluginConflictWarning

    warnings.filterwarnings("always", category=PluginConflictWarning)


def cmd_list(args: argparse.Namespace) -> int:
    from reflectlab.core.registry import ALL
    from reflectlab.core.runner import get_inquiry

    if args.config:
        print_config_help(args.config)
        return 0

    print("inquiries:")
    for name in ALL["inquiries"].names():
        inquiry = get_inquiry(name)
        print(f"  {name:<18} {inquiry.description}  [{ALL['inquiries'].source(name)}]")
        for study_name, study in inquiry.studies.items():
            print(f"    {name}/{study_name:<24} {study.side:<12} {study.description}")
    for kind, reg in ALL.items():
        if kind == "inquiries":
            continue
        names = reg.names()
        print(f"{kind}: " + (", ".join(f"{n} [{reg.source(n)}]" for n in names) if names else "(none installed)"))
    return 0


def print_config_help(target: str) -> None:
    """Every config key of an inquiry (or one study), its default and its one-line help."""
    from reflectlab.core.config import RunConfig, help_texts
    from reflectlab.core.errors import UserError
    from reflectlab.core.runner import get_inquiry

    inquiry_name, _, study_name = target.partition("/")
    inquiry = get_inquiry(inquiry_name)
    rows = [] if study_name else help_texts(RunConfig)
    sections = {study_name: None} if study_name else dict.fromkeys(inquiry.studies)
    fields = {f.name: f for f in dataclasses.fields(inquiry.studies_config)}
    for name in sections:
        if name not in fields:
            raise UserError(f"unknown study {name!r}; {inquiry.name} has: {', '.join(inquiry.studies)}")
        factory: Any = fields[name].default_factory
        rows += help_texts(factory(), f"studies.{name}.")
    width = max(len(k) for k, _, _ in rows)
    for key, default, text in rows:
        print(f"{key:<{width}}  {default:<14} {text}")


def cmd_models(args: argparse.Namespace) -> int:
    from reflectlab.core.models.embedded import EMBEDDED, reflectlab_home

    if args.prepare:
        for m in EMBEDDED.values():
            if m.installed() and not m.cached():
                print(f"converting {m.name} from its GGUF (once) ...", flush=True)
                m.materialize()

    print(f"embedded models (cache: {reflectlab_home() / 'models'}):")
    for m in EMBEDDED.values():
        state = "installed" if m.installed() else f"not installed ({m.install_line})"
        if m.installed():
            state += ", cached" if m.cached() else ", not yet converted (first use converts the GGUF)"
        kind = "post-trained" if m.post_trained else "base"
        print(f"  {m.name:<24} {kind:<13} {state}")
        print(f"  {'':<24} {m.description}")
    print("any transformers model folder or model-hub name also works: model.name=<path or name>")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from reflectlab.core.runner import run
    from reflectlab.core.synthesis import format_finding

    result = run(args.target, args.overrides)
    if result.skipped:
        print(f"\nresumed: {len(result.skipped)} finished studies skipped ({', '.join(result.skipped)})")
    print(f"\n{len(result.findings)} findings in {result.seconds:.0f}s (run {result.run_id}):")
    for f in result.findings:
        print("  " + format_finding(f))
    print(f"\nresults: {result.results_dir} (MLflow store {result.tracking_uri})")
    print(f"see them: platform show {result.run_id[:8]} --results-dir {result.results_dir}")
    if result.failed:
        print(
            f"failed studies: {', '.join(result.failed)} (tracebacks in their runs' error.txt)",
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from reflectlab.core.runner import plan

    plans = plan(args.target, args.overrides, echo=lambda m: print(m, file=sys.stderr))
    mde = _plan_mde(args) if args.mde else {}
    total = 0.0
    extra = f"  {'MDE(80%)':>9}  primary" if args.mde else ""
    print(f"{'study':<36} {'tokens':>9} {'estimate':>10}  models{extra}")
    for p in plans:
        shown = mde.get(p.study, "  (no simulator)") if args.mde else ""
        if p.work is None:
            print(f"{p.study:<36} {'?':>9} {'?':>10}  (this study gives no plan){shown}")
            continue
        secs = p.seconds or 0.0
        total += secs
        models = ", ".join(p.work.per_model)
        print(f"{p.study:<36} {p.work.total_tokens():>9,} {_duration(secs):>10}  {models}{shown}")
    print(f"{'total':<36} {'':>9} {_duration(total):>10}")
    return 0


def _plan_mde(args: argparse.Namespace) -> dict[str, str]:
    """Each study's smallest effect found with 80% power at this preset, from its simulator (``args.mde`` reps)."""
    from reflectlab.core.calibrate import calibrate_study, simulators

    _, sims, cfg = simulators(args.target, args.overrides)
    out = {}
    for study, sim in sims.items():
        print(f"  finding the MDE of {study} ({args.mde} reps) ...", file=sys.stderr)
        c = calibrate_study(study, sim, reps=args.mde, seed=int(cfg.seed))
        value = "beyond grid" if c.min_detectable_effect is None else f"{c.min_detectable_effect:.3g}"
        out[study] = f"  {value:>9}  {c.metric} ({c.unit})"
    return out


def cmd_calibrate(args: argparse.Namespace) -> int:
    import json

    from reflectlab.core.calibrate import calibrate, format_report

    reps, overrides = 400, []
    for item in args.overrides:
        key, _, value = item.partition("=")
        if key.strip() == "reps":
            try:
                reps = int(value)
            except ValueError:
                raise UserError(f"reps must be a whole number, not {value!r}") from None
        else:
            overrides.append(item)
    quiet = args.format == "json"
    results, sides, run_id = calibrate(
        args.target, overrides, reps=reps, synthesis=args.synthesis,
        echo=(lambda m: print(m, file=sys.stderr)) if quiet else print,
    )  # fmt: skip
    if quiet:
        records = [
            {**c.to_dict(), "false_present_ci": list(c.false_present_ci), "power_ci": list(c.power_ci)} for c in results
        ]
        if sides is not None:
            records = [{"side": side, "reps": reps, **rates} for side, rates in sides.items()]
        print(json.dumps(records, indent=2))
        return 0
    if results:
        format_report(results)
    for side, rates in (sides or {}).items():
        state = "no primary finding decides it" if not rates["tested"] else ""
        print(
            f"{side:<12} false present {rates['false_present_rate']:.3f} "
            f"[{rates['false_present_ci_low']:.3f}, {rates['false_present_ci_high']:.3f}] after Holm, "
            f"{rates['raw_false_present_rate']:.3f} raw {state}".rstrip()
        )
    if run_id:
        print(f"logged as run {run_id}")
    return 0


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


def cmd_show(args: argparse.Namespace) -> int:
    from reflectlab.core.synthesis import format_finding
    from reflectlab.core.tracking import TAG_STUDY, Tracker, wall_seconds

    tracker = Tracker(args.results_dir)
    run = tracker.get_run(args.run)
    info = run.info
    seconds = wall_seconds(run)
    status = tracker.status_line(run)  # a RUNNING run whose process is gone shows as DEAD
    print(f"run {info.run_id}  {info.run_name}  status {status}" + (f"  {seconds:.0f}s" if seconds else ""))
    children = tracker.children(info.run_id) or [run]
    for child in sorted(children, key=lambda r: r.info.start_time):
        study = child.data.tags.get(TAG_STUDY, child.info.run_name)
        secs = wall_seconds(child)
        est = child.data.metrics.get("estimated_seconds")
        timing = (f" in {secs:.0f}s" if secs else "") + (f" (estimated {est:.0f}s)" if est else "")
        print(f"  {study}: {tracker.status_line(child)}{timing}  (run {child.info.run_id})")
        for finding in tracker.findings(child.info.run_id):
            print("    " + format_finding(finding))
    return 0


def cmd_synthesize(args: argparse.Namespace) -> int:
    from reflectlab.core.synthesis import collect, render
    from reflectlab.core.tracking import Tracker

    text = render(collect(Tracker(args.results_dir)), args.format)
    print(text, end="" if text.endswith("\n") else "\n")
    return 0


DASHBOARD_PIP = "pip install reflectlab-dashboard"


def cmd_dashboard(args: argparse.Namespace) -> int:
    import importlib.util

    # Streamlit is imported only here, and only through the dashboard package: the CLI works without either.
    for module in ("streamlit", "reflectlab.dashboard"):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            raise UserError(f"the dashboard is not installed ({module} is missing): {DASHBOARD_PIP}")
    from reflectlab.dashboard import launch

    return launch(results_dir=args.results_dir, host=args.host, port=args.port, open_browser=args.open)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="platform", description="reflectlab: does self-reflection arise from light training pressure?")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    li = sub.add_parser("list", help="inquiries, studies and components installed")
    li.add_argument("--config", metavar="INQUIRY[/STUDY]", help="every config key of an inquiry, its default and help")
    li.set_defaults(fn=cmd_list)
    m = sub.add_parser("models", help="embedded models and whether each is installed and cached")
    m.add_argument("--prepare", action="store_true", help="convert installed embedded models to the local cache")
    m.set_defaults(fn=cmd_models)
    r = sub.add_parser(
        "run",
        help="run an inquiry or one study: platform run <inquiry>[/<study>] [key=value ...]; "
        "resume=<run id|latest> continues an interrupted run",
    )
    r.add_argument("target")
    r.add_argument("overrides", nargs="*", help="config overrides, e.g. preset=smoke seed=3 model.name=...")
    r.set_defaults(fn=cmd_run)
    pl = sub.add_parser("plan", help="tokens and wall time each study of a run would take on this machine")
    pl.add_argument("target")
    pl.add_argument("overrides", nargs="*", help="the same overrides as `platform run`")
    pl.add_argument(
        "--mde",
        type=int,
        nargs="?",
        const=100,
        default=0,
        metavar="REPS",
        help="also each study's smallest effect found with 80%% power at this preset, by `platform calibrate`'s "
        "simulator (REPS repetitions a point, 100 by default; seconds to minutes a study)",
    )
    pl.set_defaults(fn=cmd_plan)
    c = sub.add_parser(
        "calibrate",
        help="false-present rate and power of each primary finding on simulated data: "
        "platform calibrate <inquiry>[/<study>] [reps=N] [preset=...] [--format json] [--synthesis]",
    )
    c.add_argument("target")
    c.add_argument("overrides", nargs="*", help="reps=N (default 400) and the same overrides as `platform run`")
    c.add_argument("--format", choices=("table", "json"), default="table")
    c.add_argument(
        "--synthesis", action="store_true", help="simulate every study under the null at once; rates per side"
    )
    c.set_defaults(fn=cmd_calibrate)
    s = sub.add_parser("show", help="a run's studies and findings")
    s.add_argument("run", help="run id (or prefix), run name, or 'latest'")
    s.add_argument("--results-dir", default=DEFAULT_RESULTS)
    s.set_defaults(fn=cmd_show)
    y = sub.add_parser("synthesize", help="latest findings per model and side, and the headline verdict")
    y.add_argument("--results-dir", default=DEFAULT_RESULTS)
    y.add_argument("--format", choices=("table", "md", "csv"), default="table", help="terminal table, Markdown or CSV")
    y.set_defaults(fn=cmd_synthesize)
    d = sub.add_parser("dashboard", help="the Streamlit dashboard over the results store (127.0.0.1 unless told)")
    d.add_argument("--results-dir", default=DEFAULT_RESULTS, help="local store (MLFLOW_TRACKING_URI wins when set)")
    d.add_argument("--host", default="127.0.0.1", help="address to bind; another only when you ask (e.g. 0.0.0.0)")
    d.add_argument("--port", type=int, default=8501)
    d.add_argument("--open", action="store_true", help="open a browser tab")
    d.set_defaults(fn=cmd_dashboard)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    _quiet()
    try:
        args = build_parser().parse_args(argv)
        return int(args.fn(args))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        from reflectlab.core.atomic import is_disk_full

        if not is_disk_full(exc):
            raise
        print(f"error: disk full ({exc.strerror or exc}); free some space and run again", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        from reflectlab.core.runner import RunInterrupted

        if isinstance(exc, RunInterrupted):
            print(
                f"interrupted: run {exc.run_id} marked KILLED, finished studies kept; continue it with: "
                f"{exc.resume_hint}",
                file=sys.stderr,
            )
            return exc.exit_code
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
