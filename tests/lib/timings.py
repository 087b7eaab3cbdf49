"""The role's timings for runs against simulated appliances: one table for the
tests, the benchmark and the demo (role variables; the production defaults
are in roles/inplace_upgrade/defaults/main.yml).

    python3 tests/lib/timings.py demo     # a variant as YAML `name: value` lines (demo/run.sh)
"""
from __future__ import annotations

import sys

# Short timeouts so that a fault costs seconds, not the production defaults.
FAST = {
    "usage_meter_connect_timeout": 5,
    "usage_meter_rescue_connect_timeout": 3,
    "usage_meter_ssh_probe_timeout": 2,
    "usage_meter_reboot_timeout": 40,
    "usage_meter_verify_timeout": 20,
    "usage_meter_verify_interval": 1,
    "usage_meter_upgrade_timeout": 120,
    "usage_meter_upgrade_poll_interval": 1,
}

# Many appliances on the same 2 cores (the reliability suite, the benchmark's
# fleets of up to 10): more margin before reboot and verify give up. The poll
# intervals, which set how long a good run takes, are FAST's.
LOADED = {**FAST, "usage_meter_reboot_timeout": 60, "usage_meter_verify_timeout": 30}

# The demo: the production timeouts a user gets; only verify polls every 2 s
# instead of 10 s, so the two appliances are not left waiting on it.
DEMO = {"usage_meter_verify_interval": 2}

VARIANTS = {"fast": FAST, "loaded": LOADED, "demo": DEMO}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in VARIANTS:
        print(f"usage: timings.py {{{','.join(VARIANTS)}}}", file=sys.stderr)
        return 2
    for name, value in VARIANTS[argv[0]].items():
        print(f"{name}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
