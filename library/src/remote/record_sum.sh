#!/bin/sh
# Record UM_SHA as the sha256 of UM_PATH as it is now, in UM_CACHE (after sum.sh).
umrecordsum "$UM_PATH" "$UM_SHA" "$UM_CACHE"
