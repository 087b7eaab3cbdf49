#!/bin/sh
# Print UM_FILE when it is a regular file (nothing when it is absent).
if [ -f "$UM_FILE" ]; then cat "$UM_FILE"; fi
