"""`broker:` / `broker_env:` in the server config file, and --broker overriding them."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.errors import UsageError
from webhooks.config import broker_url, load_config


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "serve.yml"
    path.write_text(text)
    return path


def test_broker_from_the_file_and_the_flag_wins(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, "port: 9000\nbroker: redis://redis.internal:6379/0\n"))
    assert config.broker == "redis://redis.internal:6379/0"
    assert broker_url(config, None, {}) == "redis://redis.internal:6379/0"
    assert broker_url(config, "redis://other:6379/1", {}) == "redis://other:6379/1"
    assert broker_url(load_config(None), None, {}) is None


def test_broker_env_names_the_variable_holding_a_url_with_a_password(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, "broker_env: GITFLOWS_BROKER\n"))
    url = "redis://:s3cret@redis.internal:6379/0"
    assert broker_url(config, None, {"GITFLOWS_BROKER": url}) == url
    with pytest.raises(UsageError, match="GITFLOWS_BROKER is not set"):
        broker_url(config, None, {})


@pytest.mark.parametrize(("value", "message"), [
    ("http://redis:6379", "must be a redis://"),
    ("redis://:pw@redis:6379/0", "holds a password"),
    ("redis://user:pw@redis:6379/0", "holds a password"),
])
def test_a_bad_broker_setting_names_its_line(tmp_path: Path, value: str, message: str) -> None:
    path = _config(tmp_path, f"port: 9000\nbroker: {value}\n")
    with pytest.raises(UsageError, match=message) as caught:
        load_config(path)
    assert f"{path}:2:" in caught.value.message
