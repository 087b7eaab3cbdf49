# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shared action of every vcloud.usage_meter module.

Each module is documentation only (plugins/modules/<name>.py); its action
plugin (plugins/action/<name>.py) subclasses BinaryModuleAction and names the
module. The action runs on the controller: it fills the connection options
the task left out from the inventory host, then runs the collection's static
binary for this controller (plugins/bin/usage_meter-linux-<arch>) in place,
with the module's arguments on stdin (so no secret is written to disk or shown
in a process list), and returns the one JSON object the binary prints.
Nothing is copied anywhere, and nothing runs on the appliance but what the
binary does over SSH.

Secrets: on ansible-core 2.22+ (ansible.module_utils.secrets) every secret the
action handles is registered, so the controller masks it as $REDACTED$ in all
output, callbacks and job events: the no_log options before the binary runs,
and afterwards every secret the binary reports (no_log values of any option,
session ids). Older cores have no registry; there the binary's own scrubbing
(********) is what keeps them out (docs/ansible-protocol.md, "Secrets").
"""

from __future__ import annotations

import json
import os
import platform
import subprocess

from ansible import constants as C
from ansible import context
from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.release import __version__ as ansible_version
from ansible.utils.display import Display

try:   # ansible-core 2.22+
    from ansible.module_utils.secrets import register_secret
except ImportError:   # older cores mask nothing that is registered: the binary scrubs its own output
    register_secret = None

display = Display()

# Controllers the collection ships a binary for: platform.machine() -> file suffix.
SUPPORTED_MACHINES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}
SUPPORTED_TEXT = "Linux on x86_64 or aarch64"
BIN_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bin")

# Connection options the inventory supplies when the task does not set them.
CONNECTION_OPTIONS = ("host", "port", "username", "password", "private_key", "host_key_checking")

# Files the modules read on the controller: a relative path is looked up as
# ansible.builtin.copy looks up its src (the role's files/, the playbook's
# files/ and directory); when not found there it stays relative to the
# directory ansible-playbook was started in, where the binary runs.
LOCAL_INPUT_FILES = ("src", "ca_path")

# The no_log options of every module (the Rust `Secret` type), registered
# before the binary runs so that even a crash's output is masked; the binary
# then reports the values of every no_log option it has, these included, and
# its run-time secrets (session ids). tests/test_bad_input.py checks this list
# against what the binary reports.
SECRET_OPTIONS = ("password", "private_key_passphrase", "api_password", "access_token")
# The result key the binary reports them under (ansible-core 2.22's name).
NEW_SECRETS_KEY = "_ansible_new_secrets"


def binary_path(system=None, machine=None):
    """The binary for this controller, or raise ValueError naming the supported ones."""
    system = system or platform.system()
    machine = machine or platform.machine()
    arch = SUPPORTED_MACHINES.get(machine.lower()) if system == "Linux" else None
    if arch is None:
        raise ValueError(
            "vcloud.usage_meter runs its modules on the Ansible controller, which must be %s; "
            "this controller is %s on %s. Run the play from a supported controller "
            "(RHEL 8/9, Ubuntu, Debian, an AWX/AAP execution environment)." % (SUPPORTED_TEXT, system, machine)
        )
    return os.path.join(BIN_DIR, "usage_meter-linux-" + arch)


def _plain(value):
    """Task values as plain JSON types (vaulted and tagged strings become str)."""
    if isinstance(value, dict):
        return dict((to_text(k), _plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return to_text(value, errors="surrogate_or_strict")


def _host_key_checking(host_vars):
    """Ansible's host_key_checking as this collection's policy, or None when it
    is left at Ansible's default (then the module's own default, accept_new).
    Read as the ssh connection reads it: ansible.cfg ([defaults] or
    [ssh_connection]), ANSIBLE_HOST_KEY_CHECKING, ANSIBLE_SSH_HOST_KEY_CHECKING,
    and the host's ansible_host_key_checking / ansible_ssh_host_key_checking."""
    try:
        value, origin = C.config.get_config_value_and_origin(
            "host_key_checking", plugin_type="connection", plugin_name="ssh", variables=host_vars)
    except Exception:   # an unreadable setting must not break the task: use the module's default
        return None
    if origin == "default" or value is None:
        return None
    try:
        return "strict" if boolean(value, strict=True) else "off"
    except TypeError:   # not a boolean: Ansible itself would refuse it; use the module's default
        return None


def register_secrets(values):
    """Register each string of `values` with ansible-core, where it can (2.22+)."""
    if register_secret is None:
        return
    for value in values:
        if isinstance(value, str) and value.strip():
            register_secret(value)


def _inject_invocation(task_vars):
    """ansible-core 2.21+'s INJECT_INVOCATION (off by default), or None on
    older cores, where results always carried `invocation`."""
    try:
        return bool(C.config.get_config_value("INJECT_INVOCATION", variables=task_vars))
    except Exception:   # no such setting before 2.21
        return None


class BinaryModuleAction(ActionBase):
    """Run module MODULE of the collection's binary on the controller."""

    MODULE = ""
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _supports_async = False

    def _inventory_connection(self, task_vars):
        """The inventory host's connection settings, as this module's options."""
        host_vars = task_vars
        found = {}
        conn = self._connection
        uses_host_connection = not self._task.delegate_to and conn is not None and conn.has_option("host")
        if uses_host_connection:
            # The host's own connection plugin (ssh, paramiko) resolved every
            # alias, ansible.cfg, environment and command-line option already.
            for option, name in (("host", "host"), ("port", "port"), ("remote_user", "username"),
                                 ("password", "password"), ("private_key_file", "private_key")):
                if conn.has_option(option):
                    found[name] = conn.get_option(option)
        else:
            # Delegated (or a connection without a host): the inventory host's
            # variables, then the command line (-u, --private-key, --ask-pass).
            hostvars = task_vars.get("hostvars", {})
            name = task_vars.get("inventory_hostname")
            if name is not None and name in hostvars:
                host_vars = hostvars[name]

            def first(*names):
                for n in names:
                    if host_vars.get(n) not in (None, ""):
                        return self._templar.template(host_vars[n])
                return None

            found["host"] = first("ansible_host", "ansible_ssh_host") or name
            found["port"] = first("ansible_port", "ansible_ssh_port")
            found["username"] = (first("ansible_user", "ansible_ssh_user")
                                 or context.CLIARGS.get("remote_user") or C.DEFAULT_REMOTE_USER)
            found["password"] = first("ansible_password", "ansible_ssh_pass", "ansible_ssh_password")
            found["private_key"] = (first("ansible_ssh_private_key_file", "ansible_private_key_file")
                                    or context.CLIARGS.get("private_key_file") or C.DEFAULT_PRIVATE_KEY_FILE)
        if not found.get("password"):
            found["password"] = self._play_context.password   # --ask-pass, a Machine credential
        found["host_key_checking"] = _host_key_checking(host_vars)
        if found.get("port") not in (None, ""):
            found["port"] = int(found["port"])
        return dict((k, v) for k, v in found.items() if v not in (None, ""))

    def _local_file(self, path):
        """A relative controller path as Ansible's own file lookups resolve it."""
        if not isinstance(path, str) or not path or os.path.isabs(path) or path.startswith("~"):
            return path
        try:
            return self._find_needle("files", path)
        except AnsibleError:
            return path

    def _module_args(self, task_vars):
        args = dict(self._task.args)
        for key, value in self._inventory_connection(task_vars).items():
            if key in CONNECTION_OPTIONS and key not in args:
                args[key] = value
        for key in LOCAL_INPUT_FILES:
            if key in args:
                args[key] = self._local_file(to_text(args[key]) if args[key] is not None else None)
        args = _plain(args)
        register_secrets(args.get(k) for k in SECRET_OPTIONS)
        args.update({
            "_ansible_check_mode": bool(self._task.check_mode if self._task.check_mode is not None
                                        else self._play_context.check_mode),
            "_ansible_diff": bool(self._task.diff if self._task.diff is not None else self._play_context.diff),
            "_ansible_no_log": bool(self._play_context.no_log),
            "_ansible_verbosity": display.verbosity,
            "_ansible_module_name": self._task.action,
            "_ansible_version": ansible_version,
            # the binary returns its secrets under NEW_SECRETS_KEY; run() registers and removes them
            "_ansible_report_new_secrets": register_secret is not None,
        })
        inject = _inject_invocation(task_vars)
        if inject is not None:
            args["_ansible_inject_invocation"] = inject
        return args

    def _fail(self, what, todo, **extra):
        host = self._task.args.get("host") or getattr(self._play_context, "remote_addr", None) or "?"
        msg = "vcloud.usage_meter.%s on %s: %s. What to do: %s" % (self.MODULE, host, what, todo)
        extra.update(failed=True, changed=False, msg=msg)
        return extra

    def run(self, tmp=None, task_vars=None):
        result = super(BinaryModuleAction, self).run(tmp, task_vars)
        if result.get("failed"):
            return result
        try:
            binary = binary_path()
        except ValueError as e:
            return self._fail("unsupported controller", to_text(e))
        if not os.access(binary, os.X_OK):
            return self._fail(
                "the module binary %s is missing or not executable" % binary,
                "reinstall the collection (ansible-galaxy collection install --force vcloud.usage_meter), "
                "or run chmod 0755 on it")
        try:
            payload = json.dumps(self._module_args(task_vars or {})).encode("utf-8")
        except (TypeError, ValueError) as e:
            return self._fail("a task argument cannot be passed on as JSON (%s)" % to_text(e),
                              "give the module plain strings, numbers, booleans, lists and dicts")
        # The args file is the binary's stdin: nothing on disk, nothing in ps.
        proc = subprocess.Popen([binary, self.MODULE, "/dev/stdin"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            stdout, stderr = proc.communicate(payload)
        finally:
            if proc.poll() is None:   # task timeout or Ctrl-C: do not leave the module running
                proc.kill()
                proc.wait()
        stderr = to_text(stderr, errors="surrogate_or_replace")
        try:
            data = json.loads(to_text(stdout, errors="surrogate_or_strict"))
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except ValueError:
            return self._fail(
                "the module binary exited %s without a JSON result" % proc.returncode,
                "run the task again with -vvvv and report the output to the collection's maintainers",
                rc=proc.returncode, module_stdout=to_text(stdout, errors="surrogate_or_replace"),
                module_stderr=stderr)
        secrets = data.pop(NEW_SECRETS_KEY, None)
        register_secrets(secrets if isinstance(secrets, list) else ())
        if stderr and display.verbosity >= 4:   # after the registration: 2.22 masks what it shows
            display.vvvv("%s stderr:\n%s" % (self.MODULE, stderr.rstrip()))
        # ansible-core 2.21 deprecates inferring failure from `rc`: a binary that
        # exited non-zero failed, said or not.
        data.setdefault("failed", proc.returncode != 0)
        result.update(data)
        return result
