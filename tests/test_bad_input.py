"""Bad input, for every module binary: always ONE JSON object, never a panic.

Each module is run directly, the way the action plugin runs it (the multicall
binary, the module's name, then the path of a JSON args file), with input a user (or a broken
controller) can produce: unknown options, wrong types, missing required
options, empty strings, out-of-range numbers, a missing or directory `src`, a
malformed checksum, args files that are not JSON / not an object / not UTF-8 /
absurdly deep or big, and no argv at all. Every case must give:

  * exit code 1;
  * stdout = exactly one line, one JSON object, `failed: true`, and a `msg` that
    names what to fix (the option, "Unsupported parameters", ...);
  * no panic text and no Rust backtrace anywhere (stdout or stderr);
  * no network: every case fails during validation, before any connection
    (the base arguments point at 127.0.0.1 port 1 just in case).

The cases are generated from each module's own documentation (`<binary> --doc`
plus the doc fragments it extends), so a new module or option is covered
without editing this file. Modules are the documented ones (plugins/modules/*.py
of the installed collection, else this checkout); the binary is the collection's
multicall plugins/bin/usage_meter-linux-<arch>, run as `usage_meter MODULE ARGS`
(built by tools/dev-build.sh), or $UM_MODULE_BIN.

A few cases also go through real `ansible-playbook` to show that Ansible
renders the failure as a normal task failure (not "MODULE FAILURE").
"""
from __future__ import annotations

import json
import os
import platform
import re
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def _collection_root() -> Path:
    """The installed collection under test ($UM_COLLECTIONS_PATH, as `make test`
    sets it), else this checkout (plugins/bin filled by tools/dev-build.sh)."""
    if os.environ.get("UM_COLLECTIONS_PATH"):
        installed = Path(os.environ["UM_COLLECTIONS_PATH"]) / "ansible_collections" / "vcloud" / "usage_meter"
        if installed.is_dir():
            return installed
    return REPO


ROOT = _collection_root()
MODULE_DIR = ROOT / "plugins" / "modules"
# The one multicall binary the action plugins run: `usage_meter-linux-<arch> MODULE ARGS_FILE`.
MODULE_BIN = Path(os.environ.get("UM_MODULE_BIN") or ROOT / "plugins" / "bin" / f"usage_meter-linux-{platform.machine()}")
FRAGMENT_DIRS = [ROOT / "plugins" / "doc_fragments", REPO / "plugins" / "doc_fragments"]
TIMEOUT = 60  # seconds per binary run; a validation failure takes milliseconds

# (module or "*", option, case) that are known to be accepted today although they
# should not be. They run as strict xfail: when the module is fixed, the xfail
# turns into a failure that says to remove the entry. Each has a report in the
# lead's notes (issue 8, "Bad input").
KNOWN_GAPS: dict[tuple[str, str, str], str] = {}


# ---------------------------------------------------------------- discovery

def _module_names() -> list[str]:
    """The documented modules (plugins/modules/<name>.py, what ansible-doc lists)."""
    if not MODULE_DIR.is_dir():
        return []
    return sorted(p.stem for p in MODULE_DIR.glob("*.py") if p.stem != "__init__")


MODULES = _module_names()


def binary(module: str) -> Path:
    if not (MODULE_BIN.is_file() and os.access(MODULE_BIN, os.X_OK)):
        pytest.skip(f"{MODULE_BIN} is not built (run tools/dev-build.sh, or set UM_MODULE_BIN)")
    return MODULE_BIN


def _doc_string(path: Path, name: str = "DOCUMENTATION") -> dict[str, Any]:
    m = re.search(name + r'\s*=\s*r?"""(.*?)"""', path.read_text(), re.S)
    assert m, f"{path}: no {name} string"
    return yaml.safe_load(m.group(1)) or {}


@lru_cache(maxsize=None)
def _fragment(name: str) -> dict[str, Any]:
    short = name.rsplit(".", 1)[-1]
    for d in FRAGMENT_DIRS:
        f = d / f"{short}.py"
        if f.exists():
            return _doc_string(f).get("options") or {}
    raise AssertionError(f"doc fragment {name} not found in {FRAGMENT_DIRS}")


@lru_cache(maxsize=None)
def options(module: str) -> dict[str, dict[str, Any]]:
    """The module's documented options, fragments included (as ansible-doc shows them)."""
    doc = _doc_string(MODULE_DIR / f"{module}.py")
    opts: dict[str, dict[str, Any]] = {}
    for frag in doc.get("extends_documentation_fragment") or []:
        opts.update(_fragment(frag))
    opts.update(doc.get("options") or {})
    return opts


def binary_required(module: str) -> set[str]:
    """What the binary itself requires: the documented required options, and
    `host`, which the docs call optional because the action plugin fills it
    from the inventory host (so the binary always gets one from Ansible)."""
    opts = options(module)
    return {n for n, s in opts.items() if s.get("required")} | ({"host"} & set(opts))


@pytest.fixture(scope="session")
def bundle(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("bad-input") / "ums-system-upgrade.shar"
    p.write_bytes(b"#!/bin/sh\necho not a real bundle\n")
    return p


def base_args(module: str, bundle: Path, known_hosts: Path) -> dict[str, Any]:
    """Arguments that pass validation (they would fail at connect: port 1)."""
    opts = options(module)
    args: dict[str, Any] = {}
    for name, spec in opts.items():
        if name not in binary_required(module):
            continue
        t = spec.get("type", "str")
        if name == "host":
            args[name] = "127.0.0.1"
        elif spec.get("choices"):
            args[name] = spec["choices"][0]
        elif t == "path":
            args[name] = str(bundle)
        elif t == "int":
            args[name] = 1
        elif t == "bool":
            args[name] = False
        else:
            args[name] = "x"
    for name, value in {"port": 1, "api_port": 1, "connect_timeout": 1, "api_timeout": 1,
                        "known_hosts": str(known_hosts), "host_key_checking": "strict"}.items():
        if name in opts:
            args[name] = value
    return args


# ---------------------------------------------------------------- running

def run_raw(module: str, data: bytes | None, tmp_path: Path, argv: list[str] | None = None):
    """Run the binary as Ansible does; `data` becomes the args file (argv[1])."""
    cmd = [str(binary(module)), module]
    if argv is not None:
        cmd += argv
    elif data is not None:
        f = tmp_path / "args.json"
        f.write_bytes(data)
        cmd.append(str(f))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUST_")}
    env["RUST_BACKTRACE"] = "1"  # a panic that escaped the hook would show a backtrace
    return subprocess.run(cmd, capture_output=True, timeout=TIMEOUT, env=env, stdin=subprocess.DEVNULL,
                          cwd=tmp_path)


def run_args(module: str, args: Any, tmp_path: Path):
    return run_raw(module, json.dumps(args).encode(), tmp_path)


def assert_clean_failure(cp: subprocess.CompletedProcess, *needles: str, context: str = "") -> dict[str, Any]:
    """One JSON object, failed, rc 1, msg containing every needle, no panic, no network."""
    out = cp.stdout.decode("utf-8", "replace")
    err = cp.stderr.decode("utf-8", "replace")
    where = f"{context}\nrc={cp.returncode}\nstdout={out[:2000]!r}\nstderr={err[-2000:]!r}"
    for bad in ("panicked at", "RUST_BACKTRACE", "stack backtrace", "has overflowed its stack"):
        assert bad not in out and bad not in err, f"{bad!r} in output: {where}"
    assert cp.returncode == 1, f"exit code {cp.returncode}, expected 1: {where}"
    assert out.endswith("\n") and out.count("\n") == 1, f"stdout must be exactly one line: {where}"
    try:
        result = json.loads(out)
    except ValueError as e:
        raise AssertionError(f"stdout is not JSON ({e}): {where}") from None
    assert isinstance(result, dict), f"stdout is not a JSON object: {where}"
    assert result.get("failed") is True, f"failed is not true: {where}"
    msg = result.get("msg")
    assert isinstance(msg, str) and msg.strip(), f"no msg: {where}"
    assert "internal error" not in msg, f"a panic was caught: {where}"
    # Nothing here may get as far as the network.
    assert "step 'connect" not in msg and "connection refused" not in msg.lower() \
        and "to the API" not in msg, f"validation let this through to a connection: {where}"
    for n in needles:
        assert n in msg, f"msg lacks {n!r}: {msg}\n{where}"
    return result


def _gap(module: str, option: str, case: str) -> str | None:
    return KNOWN_GAPS.get((module, option, case)) or KNOWN_GAPS.get(("*", option, case))


# ---------------------------------------------------------------- case generation

WRONG_TYPES: dict[str, list[tuple[Any, str]]] = {
    # value, python type name Ansible would print
    "int": [("many", "str"), ([1], "list"), ({"a": 1}, "dict"), (1.5, "float"), ("22x", "str")],
    "bool": [("maybe", "str"), ([True], "list"), ({"a": 1}, "dict"), (2, "int")],
    # distinctive values: a secret option registers them for scrubbing, and a
    # one-letter one would mask every "a" of the message
    "str": [(["wrong-type-item"], "list"), ({"wrong_key": "wrong-type-value"}, "dict")],
    "path": [(["/wrong/type"], "list"), ({"wrong_key": "wrong-type-value"}, "dict")],
    "dict": [([1, 2], "list"), ("nonsense", "str"), (3, "int")],
    "list": [({"a": 1}, "dict")],
    "float": [("fast", "str"), ([1.0], "list")],
}
ANSIBLE_TYPE = {"path": "str"}  # the documented type `path` is validated as str


def _option_cases() -> list[Any]:
    """(module, option, case, value, needles) for every documented option."""
    cases = []
    for module in MODULES:
        try:
            opts = options(module)
        except BaseException:  # not built: one skipped placeholder
            cases.append(pytest.param(module, "-", "not-built", None, (), id=f"{module}-not-built"))
            continue
        for name, spec in sorted(opts.items()):
            t = spec.get("type", "str")
            for value, pytype in WRONG_TYPES.get(t, []):
                if spec.get("choices") and t == "str" and not isinstance(value, (list, dict)):
                    continue
                want = ANSIBLE_TYPE.get(t, t)
                cases.append((module, name, f"type-{pytype}", value,
                              (f"argument '{name}' is of type {pytype}", f"unable to convert to {want}")))
            if t == "dict":
                # a value of the wrong shape inside the dict must still name the option
                cases.append((module, name, "nested-value", {"some-key": {"x": [1]}}, (f"option '{name}'", "some-key")))
            if spec.get("choices"):
                cases.append((module, name, "bad-choice", "no-such-choice",
                              (f"value of {name} must be one of", "got: no-such-choice")))
            if t == "int":
                cases.append((module, name, "negative", -1, (f"argument '{name}' must be at least",)))
                cases.append((module, name, "huge", 10**30, (f"argument '{name}'",)))
            if name == "port" or name.endswith("_port"):
                cases.append((module, name, "port-zero", 0, (f"argument '{name}' must be at least 1",)))
                cases.append((module, name, "port-65536", 65536, (f"argument '{name}' must be at most 65535",)))
                cases.append((module, name, "port-str", "ssh", (f"argument '{name}' is of type str",)))
            # Empty strings: required strings, and strings whose default is not empty
            # ("" is then a different value, never a sensible one).
            if t in ("str", "path") and not spec.get("choices") and (spec.get("required") or spec.get("default")):
                cases.append((module, name, "empty", "", (name,)))
            if name == "host":
                cases.append((module, name, "blank", "   ", (name,)))
            if name == "checksum":
                for label, bad in [("md5", "md5:d41d8cd98f00b204e9800998ecf8427e"),
                                   ("bare-word", "abc"),
                                   ("short", "sha256:" + "a" * 63),
                                   ("long", "sha256:" + "a" * 65),
                                   ("non-hex", "sha256:" + "g" * 64),
                                   ("empty", "")]:
                    cases.append((module, name, f"checksum-{label}", bad, ("checksum", "sha256")))
    out = []
    for c in cases:
        if isinstance(c, tuple):
            module, name, case, value, needles = c
            marks = []
            why = _gap(module, name, case)
            if why:
                marks.append(pytest.mark.xfail(reason=why, strict=True, run="DNS" not in why))
            out.append(pytest.param(module, name, case, value, needles, id=f"{module}-{name}-{case}", marks=marks))
        else:
            out.append(c)
    return out


# ---------------------------------------------------------------- tests

@pytest.fixture
def known_hosts(tmp_path) -> Path:
    return tmp_path / "known_hosts"


def test_modules_found():
    assert MODULES, f"no module binaries or docs in {MODULE_DIR} (run tools/dev-build.sh)"


@pytest.mark.parametrize("module,option,case,value,needles", _option_cases())
def test_bad_option_value(module, option, case, value, needles, bundle, known_hosts, tmp_path):
    if case == "not-built":
        binary(module)
    args = base_args(module, bundle, known_hosts)
    args[option] = value
    assert_clean_failure(run_args(module, args, tmp_path), *needles, context=f"{module} {option}={value!r}")


@pytest.mark.parametrize("module", MODULES)
def test_unknown_options(module, bundle, known_hosts, tmp_path):
    args = base_args(module, bundle, known_hosts)
    args.update({"no_such_option": 1, "Host": "x"})
    args["_ansible_module_name"] = f"vcloud.usage_meter.{module}"
    res = assert_clean_failure(run_args(module, args, tmp_path),
                               f"Unsupported parameters for (vcloud.usage_meter.{module}) module: Host, no_such_option.",
                               "Supported parameters include:")
    # the list of supported parameters is exactly what the docs say
    listed = res["msg"].split("Supported parameters include:", 1)[1].split(".")[0]
    assert {s.strip() for s in listed.split(",")} == set(options(module)), res["msg"]


@pytest.mark.parametrize("module", MODULES)
def test_missing_required(module, bundle, known_hosts, tmp_path):
    required = sorted(binary_required(module))
    assert "host" in required, f"{module} has no option host"
    # none at all: all of them named, in Ansible's wording
    assert_clean_failure(run_args(module, {}, tmp_path), "missing required arguments: " + ", ".join(required))
    # each one alone; null means "not given", as in Ansible
    for name in required:
        for absent in ("drop", None):
            args = base_args(module, bundle, known_hosts)
            if absent == "drop":
                del args[name]
            else:
                args[name] = None
            assert_clean_failure(run_args(module, args, tmp_path), f"missing required arguments: {name}",
                                 context=f"{module} without {name} ({absent})")


@pytest.mark.parametrize("module", MODULES)
def test_several_errors_at_once_still_one_object(module, bundle, known_hosts, tmp_path):
    args = base_args(module, bundle, known_hosts)
    for name, spec in options(module).items():
        if spec.get("type") == "int":
            args[name] = "not-a-number"
        elif spec.get("type") == "bool":
            args[name] = "perhaps"
    # odd internal keys must not matter
    args.update({"_ansible_verbosity": "lots", "_ansible_check_mode": [1], "_ansible_no_log": {"x": 1},
                 "_ansible_module_name": 5, "_ansible_unknown_future_key": None})
    res = assert_clean_failure(run_args(module, args, tmp_path), "port")
    assert "failed" in res


SECRET_OPTIONS = ("password", "private_key_passphrase", "api_password", "access_token")


@pytest.mark.parametrize("secret", ["ed", "a", "e", "il", "msg", "true", "1"])
@pytest.mark.parametrize("module", MODULES)
def test_short_secret_keeps_the_result_readable(module, secret, bundle, known_hosts, tmp_path):
    """no_log scrubbing replaces a secret inside every string; it must never reach
    the result's own keys (`failed`, `changed`, `msg`), or Ansible would read the
    failure as a success."""
    opts = options(module)
    names = [n for n in SECRET_OPTIONS if n in opts]
    if not names:
        pytest.skip(f"{module} has no secret option")
    args = base_args(module, bundle, known_hosts)
    for n in names:
        args[n] = secret
    args["no_such_option"] = 1
    # the msg itself may be masked beyond reading (as Ansible would mask it): only
    # the structure is checked
    res = assert_clean_failure(run_args(module, args, tmp_path))
    assert {"failed", "changed", "msg", "invocation"} <= set(res), res
    assert res["changed"] is False, res
    assert all(res["invocation"]["module_args"][n] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" for n in names
               if n in res["invocation"]["module_args"]), res


def _action_secret_options() -> tuple[str, ...]:
    """What plugins/plugin_utils/binary_action.py registers before the binary runs."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("um_binary_action", ROOT / "plugins" / "plugin_utils" / "binary_action.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return tuple(mod.SECRET_OPTIONS)


@pytest.mark.parametrize("module", MODULES)
def test_the_action_registers_every_no_log_option(module, tmp_path):
    """Every option the Rust side marks Secret is one the action plugin registers with
    ansible-core 2.22 before the binary runs (issue 22, item 4). The binary says which
    are secret: asked as the action asks, it reports their values back."""
    opts = options(module)
    args = {n: f"value-of-{n}" for n in opts}
    args.update({"no_such_option": 1, "_ansible_report_new_secrets": True})   # fails in validation, offline
    res = json.loads(run_args(module, args, tmp_path).stdout)
    reported = set(res["_ansible_new_secrets"])
    secret = {n for n in opts if f"value-of-{n}" in reported}
    assert reported == {f"value-of-{n}" for n in secret}, res
    assert secret <= set(_action_secret_options()) == set(SECRET_OPTIONS), (module, secret)
    assert secret & {"password", "api_password"} == {"password", "api_password"} & set(opts), (module, secret)


@pytest.fixture
def src_module() -> list[str]:
    mods = [m for m in MODULES if (MODULE_DIR / f"{m}.py").exists() and options(m).get("src", {}).get("type") == "path"]
    if not mods:
        pytest.skip("no built module has a path option `src`")
    return mods


@pytest.mark.parametrize("kind", ["missing", "directory", "empty-name", "dangling-symlink"])
def test_src_not_a_readable_file(kind, src_module, bundle, known_hosts, tmp_path):
    if kind == "missing":
        src, needles = str(tmp_path / "no-such.shar"), ["src", "no-such.shar"]
    elif kind == "directory":
        src, needles = str(tmp_path), ["src", "directory"]
    elif kind == "empty-name":
        src, needles = "", ["src"]
    else:
        link = tmp_path / "dangling.shar"
        link.symlink_to(tmp_path / "gone")
        src, needles = str(link), ["src", "dangling.shar"]
    for module in src_module:
        args = base_args(module, bundle, known_hosts)
        args["src"] = src
        assert_clean_failure(run_args(module, args, tmp_path), *needles, context=f"{module} src={src!r}")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_src_unreadable(src_module, bundle, known_hosts, tmp_path):
    f = tmp_path / "secret.shar"
    f.write_bytes(b"x")
    f.chmod(0)
    for module in src_module:
        args = base_args(module, bundle, known_hosts)
        args["src"] = str(f)
        assert_clean_failure(run_args(module, args, tmp_path), "src")


# -- the args file itself

def _deep(n: int, open_: str, close: str, inner: str = "1") -> bytes:
    return (open_ * n + inner + close * n).encode()


ARGS_FILES: list[tuple[str, bytes, tuple[str, ...]]] = [
    ("not-json", b"host=127.0.0.1 port=1", ("not valid JSON",)),
    ("truncated", b'{"host": "127.0.0.1", "port": ', ("not valid JSON",)),
    ("empty-file", b"", ("not valid JSON",)),
    ("whitespace-only", b"  \n\t ", ("not valid JSON",)),
    ("trailing-garbage", b'{"host": "127.0.0.1"} {"port": 1}', ("not valid JSON",)),
    ("utf8-bom", b"\xef\xbb\xbf{}", ("not valid JSON",)),
    ("list", b'["host", "127.0.0.1"]', ("not an object",)),
    ("string", b'"host=127.0.0.1"', ("not an object",)),
    ("number", b"42", ("not an object",)),
    ("float", b"4.2e1", ("not an object",)),
    ("null", b"null", ("not an object",)),
    ("bool", b"true", ("not an object",)),
    ("non-utf8", b'{"host": "\xff\xfe127.0.0.1"}', ("not UTF-8",)),
    ("latin1", '{"host": "café"}'.encode("latin-1"), ("not UTF-8",)),
    ("nul-bytes", b"\x00\x00\x00\x00", ("not valid JSON",)),
    ("deep-array-10k", _deep(10_000, "[", "]"), ("not valid JSON",)),
    ("deep-array-100k", _deep(100_000, "[", "]"), ("not valid JSON",)),
    ("deep-object-10k", _deep(10_000, '{"a":', "}"), ("not valid JSON",)),
    ("deep-unclosed-1M", b"[" * 1_000_000, ("not valid JSON",)),
    ("deep-in-option-10k", b'{"host": "127.0.0.1", "port": ' + _deep(10_000, "[", "]") + b"}", ("not valid JSON",)),
]


@pytest.mark.parametrize("module", MODULES)
@pytest.mark.parametrize("label,data,needles", ARGS_FILES, ids=[a[0] for a in ARGS_FILES])
def test_bad_args_file(module, label, data, needles, tmp_path):
    assert_clean_failure(run_raw(module, data, tmp_path), *needles, context=label)


@pytest.mark.parametrize("module", MODULES)
def test_deep_but_parseable_values(module, bundle, known_hosts, tmp_path):
    """Nesting just under the parser's limit, in every option: validated, not overflowed."""
    for name, spec in options(module).items():
        args = base_args(module, bundle, known_hosts)
        value: Any = "x"
        for _ in range(120):
            value = {"k": value} if spec.get("type") not in ("dict",) else [value]
        args[name] = value
        if spec.get("type") == "list":
            continue  # a list of anything could be valid; none today
        assert_clean_failure(run_args(module, args, tmp_path), name, context=f"{module} {name}=<120-deep>")


@pytest.mark.parametrize("module", MODULES)
def test_huge_args_file(module, bundle, known_hosts, tmp_path):
    """Megabytes of input: still one object, and the msg stays readable."""
    args = base_args(module, bundle, known_hosts)
    args["port"] = ["22"] * 200_000  # 1.2 MB list for an int
    args.update({f"junk_{i}": i for i in range(20_000)})
    res = assert_clean_failure(run_args(module, args, tmp_path), "Unsupported parameters", "junk_0")
    assert res["msg"].count("junk_") == 20_000
    args = {k: v for k, v in args.items() if not k.startswith("junk_")}
    res = assert_clean_failure(run_args(module, args, tmp_path), "argument 'port' is of type list")
    assert len(res["msg"]) < 2000, f"msg echoes the whole bad value ({len(res['msg'])} chars)"


@pytest.mark.parametrize("module", MODULES)
def test_command_line(module, tmp_path):
    # no argv: what a person gets when they run the binary by hand
    assert_clean_failure(run_raw(module, None, tmp_path, argv=[]), "no arguments file")
    # a path that does not exist, a directory
    assert_clean_failure(run_raw(module, None, tmp_path, argv=[str(tmp_path / "nope.json")]),
                         "cannot read the arguments file", "nope.json")
    assert_clean_failure(run_raw(module, None, tmp_path, argv=[str(tmp_path)]), "cannot read the arguments file")
    # two args files, an unknown flag
    f = tmp_path / "a.json"
    f.write_text("{}")
    assert_clean_failure(run_raw(module, None, tmp_path, argv=[str(f), str(f)]), "bad command line")
    assert_clean_failure(run_raw(module, None, tmp_path, argv=["--bogus-flag"]), "bad command line")
    # an empty argv[1]
    assert_clean_failure(run_raw(module, None, tmp_path, argv=[""]), "arguments file")


@pytest.mark.parametrize("module", MODULES)
def test_base_arguments_are_valid(module, bundle, known_hosts, tmp_path):
    """Control: the base arguments pass validation, so every failure above is
    caused by the one bad value. They fail later, reaching for 127.0.0.1:1."""
    cp = run_args(module, base_args(module, bundle, known_hosts), tmp_path)
    out = cp.stdout.decode()
    assert cp.returncode == 1 and out.count("\n") == 1, out
    msg = json.loads(out)["msg"]
    assert "validate arguments" not in msg and "read arguments" not in msg, msg


# -- through Ansible

ANSIBLE_CASES = [
    ("sshd", {"host": "127.0.0.1", "port": 1, "no_such_option": 1},
     ["Unsupported parameters for (vcloud.usage_meter.sshd) module: no_such_option"]),
    ("shar_copy", {"host": "127.0.0.1", "port": 1}, ["missing required arguments: src"]),
    ("sshd", {"host": "127.0.0.1", "port": "twenty-two"},
     ["argument 'port' is of type str and we were unable to convert to int"]),
    ("shar_copy", {"host": "127.0.0.1", "port": 1, "src": "/nonexistent/ums-system-upgrade.shar"},
     ["src", "/nonexistent/ums-system-upgrade.shar"]),
    ("upgrade", {"host": "127.0.0.1", "port": 1, "checksum": "md5:abc"}, ["checksum", "sha256"]),
    # a short secret ("ed" is in "failed") must not turn the failure into a success
    ("sshd", {"host": "127.0.0.1", "port": 1, "password": "ed", "bogus": 1}, ["bogus", "Support"]),
]


@pytest.mark.parametrize("module,args,needles", ANSIBLE_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(ANSIBLE_CASES)])
def test_ansible_renders_the_failure(module, args, needles):
    binary(module)
    from lib.playbook import run_module

    res = run_module(module, args, timeout=120)
    assert res["_status"] == "failed", res
    assert "module_stdout" not in res and "MODULE FAILURE" not in res.get("msg", ""), res
    for n in needles:
        assert n in res["msg"], res["msg"]
    assert "panicked at" not in res["_output"]
