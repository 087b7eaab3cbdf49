# -*- coding: utf-8 -*-
# Generated from the Rust sources by tools/gen-docs.sh: do not edit.
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.vcloud.usage_meter.plugins.plugin_utils.binary_action import BinaryModuleAction


class ActionModule(BinaryModuleAction):
    """Runs vcloud.usage_meter.iso_mount on the controller."""

    MODULE = "iso_mount"
