"""The maintenance window's figures of BENCHMARKS.md, for bench/render.py: the whole play and the
window on a staged appliance against the same steps by hand (9, 9b, 11, 11b), the play against its
physical limit (10), staging before/after (12) and the controller's hashes of the bundle (13).
Measures nothing: every figure comes from the results file (bench/distance.py,
bench/physical_limit.py, bench/hash_count.py wrote it)."""
from __future__ import annotations

import statistics

from render_base import Row, f, phase, ratio, verdict

WHOLE_BAR = 1.2       # the whole play, fresh appliance, against the hand procedure
WINDOW_BAR = 1.3      # the window on a staged appliance, against the hand procedure on a staged one
LIMIT_BAR = 0.25      # overhead's share of the play, default timings


def login_s(hand: dict):
    xs = [t for n, t in hand["steps"] if n.startswith("login")]
    return statistics.mean(xs) if xs else None


def most_logins(run: dict) -> str:
    """The task with the most SSH logins, e.g. `reboot 2 logins / 2 connections`."""
    rows = run.get("per_task") or []
    if not rows:
        return "n/a"
    top = max(rows, key=lambda r: (r["logins"], r["connections"]))
    return f"{phase(top['task'])} {top['logins']} logins / {top['connections']} connections"


def against_hand(num: str, what: str, role: dict, hand: dict, bar: float) -> Row:
    r = role["wall"] / hand["wall"]
    return Row(num, what, f"{role['wall']:.1f} s; {role['ssh_logins']} SSH logins",
               f"by hand {hand['wall']:.1f} s; {hand['ssh_logins']} logins", f"{r:.2f}×", f"≤ {bar}× by hand",
               verdict(r <= bar))


def why_slower(role: dict, hand: dict, full: bool) -> str:
    """The measured parts of the gap: the extra logins at this distance, the longest tasks, what all
    the short tasks add up to (`full`: and what the hand procedure skips)."""
    text = f"{role['wall'] / hand['wall']:.2f}× the same steps by hand ({role['wall'] - hand['wall']:+.1f} s). "
    extra, one = role["ssh_logins"] - hand["ssh_logins"], login_s(hand)
    if extra > 0 and one is not None:
        text += (f"{role['ssh_logins']} logins (by hand {hand['ssh_logins']}, over ControlMaster) at "
                 f"{one:.2f} s each: the {extra} extra cost about {extra * one:.1f} s. ")
    times = role["task_times"]
    text += "Longest tasks: " + ", ".join(f"{phase(t['task'])} {t['s']:.1f} s" for t in times[:4])
    if not full:
        return text + "."
    text += (f"; the other {len(times) - 4} tasks {sum(t['s'] for t in times[4:]):.1f} s, between tasks "
             f"{role['wall'] - sum(t['s'] for t in times):.1f} s")
    status = dict(hand["steps"]).get("boot id, status.sh until Running")
    if status is not None:
        text += (f". By hand, `status.sh` until Running took {status:.1f} s: no settle time, which is most "
                 "of the gap in verify")
    return text + "."


def whole_rows(out: dict) -> list:
    d = out.get("distance")
    if not d or "role" not in d or "hand" not in d:
        return []
    rows = []
    for num, role, hand, where in (("9", d["role"], d["hand"], f"{d['delay_ms']} ms away"),
                                   ("9b", d.get("role_local"), d.get("hand_local"), "no delay")):
        if not role or not hand:
            continue
        row = against_hand(num, f"Whole play, fresh appliance, {where}", role, hand, WHOLE_BAR)
        row.details.append(
            f"Round trip {role['rtt']['rtt_s'] * 1000:.1f} ms. {role['ssh_connections']} SSH connections (by hand "
            f"{hand['ssh_connections']}, one ControlMaster per boot), {role['api_requests']} API requests (by hand "
            f"{hand['api_requests']}); the most logins in one task: {most_logins(role)}.")
        if role["wall"] > WHOLE_BAR * hand["wall"]:
            row.cause = why_slower(role, hand, num == "9")
        rows.append(row)
    return rows + window_rows(d) + staging_rows(d)


def window_rows(d: dict) -> list:
    rows = []
    for num, w, where in (("11", d.get("window"), f"{d['delay_ms']} ms away"),
                          ("11b", d.get("window_local"), "no delay")):
        if not w or "role" not in w or "hand" not in w:
            continue
        role, hand, stage = w["role"], w["hand"], w["stage"]
        row = against_hand(num, f"Window on a staged appliance, {where}", role, hand, WINDOW_BAR)
        row.details.append(
            f"Staged first by `vcloud.usage_meter.stage` ({stage['wall']:.1f} s, {stage['ssh_logins']} logins); "
            + ("the window's copy found it staged and sent nothing" if role.get("staged_seen") else
               "the window's copy did NOT find it staged") + f"; {role['ssh_connections']} SSH connections.")
        if role["wall"] > WINDOW_BAR * hand["wall"]:
            row.cause = why_slower(role, hand, num == "11")
        rows.append(row)
    return rows


def staging_rows(d: dict) -> list:
    """12: the whole play unstaged (9b's run) against stage + window (11b's), with no delay."""
    w, unstaged = d.get("window_local"), d.get("role_local")
    if not w or not unstaged or "role" not in w:
        return []
    stage, window = w["stage"]["wall"], w["role"]["wall"]
    row = Row("12", "Whole play with staging, 1 appliance, no delay", f"stage {stage:.1f} s + window "
              f"{window:.1f} s", f"unstaged play {unstaged['wall']:.1f} s",
              f"window {f(ratio(window, unstaged['wall']))}×; both {f(ratio(stage + window, unstaged['wall']))}×",
              "report", "—")
    far, far_unstaged = d.get("window"), d.get("role")
    if far and far_unstaged and "role" in far:
        row.details.append(
            f"{d['delay_ms']} ms away: stage {far['stage']['wall']:.1f} s + window {far['role']['wall']:.1f} s "
            f"against the unstaged play's {far_unstaged['wall']:.1f} s. The bundle is figure 5's "
            f"{d['bytes'] // 2**20} MiB; a real one (1–2 GB, over a WAN) moves minutes out of the window.")
    return [row]


def limit_rows(out: dict) -> list:
    d = out.get("physical_limit")
    if not d or "default" not in d:
        return []
    link, p, s = d["link"], d["default"], d.get("short")
    share = p["overhead_s"] / p["wall"]
    row = Row("10", "Physical limit: whole play, default timings", f"play {p['wall']:.1f} s; overhead "
              f"{p['overhead_s']:.1f} s", f"unsavable {p['floor_s']:.1f} s", f"{share * 100:.0f} % overhead",
              f"overhead ≤ {LIMIT_BAR * 100:.0f} % of the play", verdict(share <= LIMIT_BAR))
    row.details.append(
        f"Unsavable, each part measured: the bundle over the link {link['transfer_s']:.2f} s ({link['mb_s']:.0f} "
        f"MB/s), its run {link['shar_run_s']:.2f} s, reboot to SSH banner {p['reboot_to_banner_s']:.2f} s, "
        f"services up after it {p['services_after_banner_s']:.2f} s.")
    v = p.get("verify") or {}
    if s:
        row.details.append(f"With the short role timings: play {s['wall']:.1f} s, overhead {s['overhead_s']:.1f} s "
                           f"= {s['overhead_s'] / s['wall'] * 100:.0f} %; its verify task {s['tasks']['services']:.1f}"
                           " s.")
    if share > LIMIT_BAR:
        settled = (f"; counted as unsavable, the overhead is {p['overhead_settled_s'] / p['wall'] * 100:.0f} % "
                   f"({p['overhead_settled_s']:.1f} s)") if "overhead_settled_s" in p else ""
        row.cause = (
            f"{share * 100:.0f} % of the play is overhead. Most of it is verify: {p['tasks']['services']:.1f} s "
            f"against {p['services_after_banner_s']:.1f} s for the services to come up, because it ends only when "
            f"systemd shows every service active, with no restart, for the settle time "
            f"({v.get('settle_seconds', '?')} s at the default interval; ended by: {v.get('settled_by') or '?'}, "
            f"{v.get('attempts', '?')} checks). That is the safety rule that fails a crash loop{settled}. A real "
            "appliance's upgrade and reboot take minutes (not published): the same seconds weigh less there.")
    return [row]


def hash_rows(out: dict) -> list:
    h = out.get("hashes")
    if not h or "hashes" not in h:
        return []
    n = h["appliances"]
    hashes = round(h["hashes"])
    row = Row("13", f"Controller hashes of the bundle, {n} appliances", f"{hashes} hash ({h['passes']:.2f} reads "
              f"of the file, {h['copy_passes']:.2f} of them copies)", f"{n} appliances, 1 file", f"{hashes} per file",
              "1 per file", verdict(hashes <= 1))
    progs = h.get("by_program") or {}
    row.details.append(
        f"strace (`-P` the bundle) over the whole play, forks {h['forks']}: every byte read from the bundle on "
        f"the controller, by program: " + "; ".join(
            f"{k}: {v['passes']:.2f} of the file ({v['tids']} thread{'' if v['tids'] == 1 else 's'})" for k, v in progs.items()) + ".")
    if hashes > 1:
        row.cause = f"{hashes} hashes of one file for {n} appliances; by program: " + ", ".join(
            f"{k} {v['passes']:.2f}" for k, v in progs.items()) + "."
    return [row]


