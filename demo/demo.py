#!/usr/bin/env python3
"""The Python steps of demo/run.sh, one subcommand each (linted by make unit).

    demo.py field KEY            print KEY of the JSON object on stdin
    demo.py token                print a random throwaway secret
    demo.py appliance            one line for the JSON `umsim.py start` printed (stdin)
    demo.py status [--expect V]  one line for the JSON `umsim.py status` printed (stdin);
                                 exit 1 when the installed version is not V
    demo.py check-inventory FILE COUNT
    demo.py recap FILE           the PLAY RECAP lines again, from the um_results callback's recap JSON
    demo.py summary FILE HOST... one line per appliance, then one per hop, from the usage_meter_summary
                                 the role published (set_stats, else the fact) in the um_results JSON;
                                 exit 1 naming every HOST without one

Errors go to stderr, prefixed "demo:", and exit non-zero.
"""
from __future__ import annotations

import argparse
import json
import secrets
import sys
from pathlib import Path

RECAP_KEYS = ("ok", "changed", "unreachable", "failed", "skipped", "rescued", "ignored")


def fail(msg: str) -> int:
    print(f"demo: {msg}", file=sys.stderr)
    return 1


def stdin_json() -> dict:
    return json.load(sys.stdin)


def cmd_field(args) -> int:
    print(stdin_json()[args.key])
    return 0


def cmd_token(_args) -> int:
    print(secrets.token_urlsafe(12))
    return 0


def cmd_appliance(_args) -> int:
    d = stdin_json()
    print(f"{d['name']}: {d['address']} (SSH closed; API https://{d['address']}:{d['api_port']})")
    return 0


def cmd_status(args) -> int:
    s = stdin_json()
    print(f"  {s['name']}: installed {s['installed_version']}, previous install kept: "
          f"{s['cloudusagemetering_old']}, boots: {s['boot_count']}, sshd listening: {s['sshd_listening']}")
    if args.expect and s["installed_version"] != args.expect:
        return fail(f"{s['name']} has {s['installed_version']} installed, not {args.expect}")
    return 0


def cmd_check_inventory(args) -> int:
    import yaml  # PyYAML, ansible-core's own dependency (in .venv)

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!vault", lambda _loader, _node: "<vault>")
    try:
        hosts = yaml.load(Path(args.file).read_text(), Loader=Loader)["usage_meter"]["hosts"]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as e:
        return fail(f"the inventory {args.file} did not parse: {e}")
    if len(hosts) != args.count:
        return fail(f"the inventory {args.file} has {len(hosts)} hosts, not {args.count}")
    return 0


def cmd_recap(args) -> int:
    f = Path(args.file)
    counts = json.loads(f.read_text()) if f.exists() else {}
    for host, c in counts.items():
        c["failed"] = c["failures"]
        print(f"{host:<26} : " + " ".join(f"{k}={c[k]:<4}" for k in RECAP_KEYS).rstrip())
    if not counts:
        return fail(f"no recap in {f}: see the play's output above")
    return 0


def summaries(records: list) -> dict:
    """{host: usage_meter_summary} from the um_results records: what the role handed
    to set_stats, else the fact it set; the last one of each host wins."""
    found: dict = {}
    for r in records:
        res = r.get("result") or {}
        if r.get("status") != "ok" or not isinstance(res, dict):
            continue
        stats = ((res.get("ansible_stats") or {}).get("data") or {}).get("usage_meter_summary")
        if isinstance(stats, dict):
            found.update({h: s for h, s in stats.items() if isinstance(s, dict)})
            continue
        fact = (res.get("ansible_facts") or {}).get("usage_meter_summary")
        if isinstance(fact, dict):
            found[r["host"]] = fact
    return found


def line(host: str, s: dict) -> str:
    """The summary's own `line` (named after the host) when the role gives one, else the same facts in one line."""
    if s.get("line"):
        text = str(s["line"])
        return text if text.startswith(f"{host}:") else f"{host}: {text}"
    services = s.get("services") or {}
    running = sum(1 for v in services.values() if v == "Running")
    parts = [str(s.get("result")), f"{s.get('from_version') or '?'} -> {s.get('to_version') or '-'}",
             f"{s.get('seconds')} s", f"services {running}/{len(services)} Running", f"sshd {s.get('sshd')}",
             f"certificates accepted: {len(s.get('certificates_accepted') or [])}",
             f"rolled back: {'yes' if s.get('rolled_back') else 'no'}"]
    if s.get("logs"):
        parts.append(f"logs: {s['logs']}")
    if s.get("manual_steps"):
        parts.append("by hand: " + " ".join(map(str, s["manual_steps"])))
    if s.get("error"):
        parts.append(f"ERROR: {s['error']}")
    return f"{host}: " + " | ".join(parts)


def cmd_summary(args) -> int:
    f = Path(args.file)
    try:
        found = summaries(json.loads(f.read_text()))
    except (OSError, ValueError) as e:
        return fail(f"cannot read the play's results {f}: {e}")
    for host in args.hosts:
        if host in found:
            print(f"  {line(host, found[host])}")
            for hop in found[host].get("hops") or []:
                took = f" in {hop['seconds']} s" if hop.get("seconds") is not None else ""
                print(f"      hop {hop.get('from')} -> {hop.get('to')}: {hop.get('result')}{took}")
    missing = [h for h in args.hosts if h not in found]
    if missing:
        return fail(f"no usage_meter_summary for {', '.join(missing)} in {f}: the role's report phase did not "
                    "publish one (set_stats or the fact); see the play's output above")
    return 0


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("field").add_argument("key")
    for name in ("token", "appliance"):
        sub.add_parser(name)
    sub.add_parser("status").add_argument("--expect")
    p = sub.add_parser("check-inventory")
    p.add_argument("file")
    p.add_argument("count", type=int)
    sub.add_parser("recap").add_argument("file")
    p = sub.add_parser("summary")
    p.add_argument("file")
    p.add_argument("hosts", nargs="+")
    return ap


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    return globals()["cmd_" + args.cmd.replace("-", "_")](args)


if __name__ == "__main__":
    sys.exit(main())
