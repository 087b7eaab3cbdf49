#!/bin/sh
# vcloud.usage_meter.shar_copy: UMBUSY while a copy holds the lock file UM_LOCK,
# else UMFREE; writes nothing (a shared flock probe).
if [ -e "$UM_LOCK" ] && command -v flock > /dev/null 2>&1 && ! flock -n -s "$UM_LOCK" true; then echo UMBUSY; else echo UMFREE; fi
