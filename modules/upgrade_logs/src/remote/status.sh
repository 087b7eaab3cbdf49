#!/bin/sh
# vcloud.usage_meter.upgrade_logs: run the status command UM_COMMAND (shell,
# as the task gives it) in the install directory UM_DIR.
cd "$UM_DIR" && eval "$UM_COMMAND"
