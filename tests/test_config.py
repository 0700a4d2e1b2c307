from __future__ import annotations

import dataclasses
import importlib
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from zpyro import configrules
from zpyro.config import Config

# `zpyro.config` the attribute is the Config instance once the package re-exports it (Pyro
# habit), so reach the module through the import system.
config_module = importlib.import_module("zpyro.config")

pytestmark = pytest.mark.timeout(30)

REPO_ROOT = Path(__file__).resolve().parent.parent

DEFAULTS = {
    "HOST": "localhost",
    "NS_HOST": "localhost",
    "NS_PORT": 9090,
    "NS_PUB_PORT": 9091,
    "SERIALIZER": "serpent",
    "SERIALIZERS_ACCEPTED": {"serpent", "json", "msgpack"},
    "REQUIRE_EXPOSE": True,
    "COMMTIMEOUT": 0.0,
    "CONNECT_TIMEOUT": 5.0,
    "MAX_MESSAGE_SIZE": 1024**3,
    "THREADPOOL_SIZE": 32,
    "THREADPOOL_SIZE_MIN": 2,
    "OOB_THRESHOLD": 32768,
    "HEARTBEAT_INTERVAL": 1.0,
    "HEARTBEAT_TIMEOUT": 5.0,
    "DETAILED_TRACEBACK": False,
    "MAX_RETRIES": 0,
    "POLL_TIMEOUT": 0.5,
    "ITER_STREAMING": True,
    "ITER_STREAM_LIFETIME": 0.0,
    "ITER_STREAM_LINGER": 30.0,
    "MAX_PENDING_CALLS": 100_000,
    "ONEWAY_CREDIT": 1000,
    "DAEMON_MAX_QUEUE": 10_000,
    "BROKER_MAX_QUEUE": 10_000,
    "CURVE_SECRET_KEY": "",
    "CURVE_SERVER_PUBLIC_KEY": "",
    "CURVE_ALLOWED_CLIENTS": "",
    # Pyro4/Pyro5 items (tests/test_pyro_config.py tries each as a Pyro program would)
    "SERVERTYPE": "thread",
    "COMPRESSION": False,
    "NS_LOOKUP_DELAY": 0.0,
    "PREFER_IP_VERSION": 4,
    "PICKLE_PROTOCOL_VERSION": pickle.HIGHEST_PROTOCOL,
    "LOGLEVEL": "",
    "LOGFILE": "",
    "ONEWAY_THREADED": True,
    "METADATA": True,
    "AUTOPROXY": True,
    "SOCK_REUSE": True,
    "SOCK_NODELAY": True,
    "USE_MSG_WAITALL": True,
    "SERPENT_BYTES_REPR": True,
    "JSON_MODULE": "json",
    "LOGWIRE": False,
    "FLAME_ENABLED": False,
    "DILL_PROTOCOL_VERSION": -1,
    "NATHOST": None,
    "NATPORT": 0,
    "NS_AUTOCLEAN": 0.0,
    "BROADCAST_ADDRS": "<broadcast>, 0.0.0.0",
    "NS_BCHOST": None,
    "NS_BCPORT": 9091,
    "SSL": False,
    "SSL_REQUIRECLIENTCERT": False,
    "SSL_SERVERCERT": "",
    "SSL_SERVERKEY": "",
    "SSL_SERVERKEYPASSWD": "",
    "SSL_CLIENTCERT": "",
    "SSL_CLIENTKEY": "",
    "SSL_CLIENTKEYPASSWD": "",
    "SSL_CACERTS": "",
    "SSL_CLIENT_CERTVALIDATION": False,
}
ALIASES = {"POLLTIMEOUT": "POLL_TIMEOUT"}  # Pyro's names of zpyro items
# items whose value is checked: the free-for-all env test below leaves them out
CHECKED = set(configrules.RULES)


def item_lines(text: str) -> list[str]:
    """The `ITEM = value` lines of a dump (after its header)."""
    lines = text.splitlines()
    return lines[lines.index("Currently active configuration settings:") + 1 :]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ZPYRO_* or PYRO_* from the outer environment leaks into these tests."""
    for name in list(os.environ):
        if name.startswith(("ZPYRO_", "PYRO_")):
            monkeypatch.delenv(name)


def test_defaults() -> None:
    cfg = Config()
    assert cfg.as_dict() == {**DEFAULTS, "POLLTIMEOUT": DEFAULTS["POLL_TIMEOUT"]}
    for name, value in DEFAULTS.items():
        assert type(getattr(cfg, name)) is type(value), name


def test_module_instance() -> None:
    assert isinstance(config_module.config, Config)
    from zpyro.config import config

    assert config is config_module.config


def test_typo_raises_attribute_error() -> None:
    cfg = Config()
    with pytest.raises(AttributeError):
        cfg.SERIALISER = "json"  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        cfg.serializer = "json"  # type: ignore[attr-defined]
    assert cfg.SERIALIZER == "serpent"


@pytest.mark.parametrize(
    ("item", "text", "expected"),
    [
        ("NS_PORT", "9100", 9100),
        ("NS_PORT", " 9100 ", 9100),
        ("COMMTIMEOUT", "2.5", 2.5),
        ("COMMTIMEOUT", "3", 3.0),
        ("NS_HOST", "broker.example", "broker.example"),
        ("SERIALIZER", "msgpack", "msgpack"),
        (
            "SERIALIZERS_ACCEPTED",
            "json, Pickle,,marshal ",
            {"json", "pickle", "marshal"},
        ),
        ("SERIALIZERS_ACCEPTED", "", set()),
    ],
)
def test_env_conversion(
    monkeypatch: pytest.MonkeyPatch, item: str, text: str, expected: object
) -> None:
    monkeypatch.setenv(f"ZPYRO_{item}", text)
    value = getattr(Config(), item)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize("text", ["1", "true", "TRUE", "Yes", "on", " On "])
def test_env_bool_true(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setenv("ZPYRO_DETAILED_TRACEBACK", text)
    assert Config().DETAILED_TRACEBACK is True


@pytest.mark.parametrize("text", ["0", "false", "False", "NO", "off"])
def test_env_bool_false(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setenv("ZPYRO_REQUIRE_EXPOSE", text)
    assert Config().REQUIRE_EXPOSE is False


@pytest.mark.parametrize(
    ("item", "text", "kind"),
    [
        ("NS_PORT", "abc", "int"),
        ("NS_PORT", "9090.5", "int"),
        ("NS_PORT", "", "int"),
        ("COMMTIMEOUT", "soon", "float"),
        ("REQUIRE_EXPOSE", "maybe", "bool"),
        ("REQUIRE_EXPOSE", "2", "bool"),
    ],
)
def test_env_bad_value(monkeypatch: pytest.MonkeyPatch, item: str, text: str, kind: str) -> None:
    monkeypatch.setenv(f"ZPYRO_{item}", text)
    with pytest.raises(ValueError) as info:
        Config()
    message = str(info.value)
    assert f"ZPYRO_{item}" in message
    assert f"expected {kind}" in message


def test_every_item_settable_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    samples = {bool: ("0", False), int: ("7", 7), float: ("0.25", 0.25), str: ("s", "s")}
    samples[set] = ("a,b", {"a", "b"})
    free = {k: v for k, v in DEFAULTS.items() if k not in CHECKED}
    for name, default in free.items():
        text, _ = samples[type(default)]
        monkeypatch.setenv(f"ZPYRO_{name}", text)
    cfg = Config()
    for name, default in free.items():
        assert getattr(cfg, name) == samples[type(default)][1], name


def test_without_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZPYRO_NS_PORT", "9100")
    assert Config(use_environment=False).NS_PORT == 9090
    assert Config().NS_PORT == 9100


def test_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = Config()
    cfg.SERIALIZER = "json"
    cfg.NS_PORT = 1234
    monkeypatch.setenv("ZPYRO_NS_PORT", "9100")
    cfg.reset()
    assert cfg.SERIALIZER == "serpent"
    assert cfg.NS_PORT == 9100
    cfg.reset(use_environment=False)
    assert cfg.as_dict() == {**DEFAULTS, "POLLTIMEOUT": DEFAULTS["POLL_TIMEOUT"]}


def test_copy_is_independent(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = Config()
    cfg.COMMTIMEOUT = 1.5
    monkeypatch.setenv("ZPYRO_COMMTIMEOUT", "9.0")  # a copy keeps values, does not re-read env
    other = cfg.copy()
    assert other is not cfg
    assert other.as_dict() == cfg.as_dict()
    other.COMMTIMEOUT = 3.0
    assert cfg.COMMTIMEOUT == 1.5


def test_as_dict_is_a_snapshot() -> None:
    cfg = Config()
    d = cfg.as_dict()
    d["NS_PORT"] = 1
    assert cfg.NS_PORT == 9090
    assert cfg.asDict() == {**DEFAULTS, "POLLTIMEOUT": DEFAULTS["POLL_TIMEOUT"]}  # Pyro4


def test_dump_format() -> None:
    dump = Config().dump()
    assert dump.splitlines()[0].startswith("zpyro version: ")
    lines = item_lines(dump)
    names = [line.split(" = ", 1)[0] for line in lines]
    assert names == sorted([*DEFAULTS, *ALIASES])
    assert "NS_PORT = 9090" in lines
    assert "HOST = localhost" in lines
    assert "REQUIRE_EXPOSE = True" in lines
    assert "SERIALIZERS_ACCEPTED = json, msgpack, serpent" in lines


def test_every_field_has_a_reason_comment() -> None:
    source = Path(str(config_module.__file__)).read_text()
    for field in dataclasses.fields(Config):
        line = next(
            line for line in source.splitlines() if line.strip().startswith(f"{field.name}:")
        )
        previous = source.splitlines()[source.splitlines().index(line) - 1]
        assert "#" in line or previous.strip().startswith("#"), field.name


@pytest.mark.slow
def test_python_m_configure() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZPYRO_")}
    env["ZPYRO_NS_PORT"] = "9100"
    env["ZPYRO_SERIALIZERS_ACCEPTED"] = "json,serpent"
    result = subprocess.run(
        [sys.executable, "-m", "zpyro.configure"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    lines = item_lines(result.stdout)
    assert len(lines) == len(DEFAULTS) + len(ALIASES)
    assert all(" = " in line for line in lines)
    assert "NS_PORT = 9100" in lines
    assert "NS_PUB_PORT = 9091" in lines
    assert "SERIALIZERS_ACCEPTED = json, serpent" in lines
    assert [line.split(" = ")[0] for line in lines] == sorted([*DEFAULTS, *ALIASES])


@pytest.mark.slow
def test_python_m_configure_bad_env_fails() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZPYRO_")}
    env["ZPYRO_NS_PORT"] = "ninety"
    result = subprocess.run(
        [sys.executable, "-m", "zpyro.configure"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "ZPYRO_NS_PORT" in result.stderr
