#!/bin/sh
# Shell function put in front of the scripts that must know whether an
# upgrade runs (usage_meter::upgrade_state::RUNNING_SH).
# shellcheck disable=SC2317  # a function, called by the script that follows

# umrunning LOCK: true while an upgrade runner holds LOCK (an exclusive flock);
# this probe takes a shared one, so probes never see each other as a run.
umrunning() { [ -e "$1" ] && command -v flock > /dev/null 2>&1 && ! flock -n -s "$1" true; }
