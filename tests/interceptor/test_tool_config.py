"""What intercept gives opencode and llm: the port's models, in each tool's own configuration."""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import yaml

from interceptor.tool_config import (
    LLM_MODELS_FILE,
    gateway_models,
    llm_user_dir,
    opencode_config,
    prepare_llm_dir,
    tool_env,
)

URL = "http://127.0.0.1:8801/client/opencode"


@pytest.fixture
def models_port() -> Iterator[int]:
    """A port answering GET /v1/models as the gateway does, a wildcard pattern among the names."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"object": "list", "data": [{"id": "gpt-4o"}, {"id": "claude-*"}, {"id": "local-qwen"}]})
            self.send_response(200 if self.path == "/v1/models" else 404)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_gateway_models_are_the_concrete_names_the_port_lists(models_port: int) -> None:
    assert gateway_models(f"http://127.0.0.1:{models_port}") == ["gpt-4o", "local-qwen"]


def test_a_port_that_does_not_answer_lists_no_models() -> None:
    assert gateway_models("http://127.0.0.1:9", timeout=1) == []


def test_opencode_gets_a_memproxy_provider_with_every_model_at_the_port() -> None:
    config = json.loads(opencode_config(URL, "shop", ["gpt-4o", "local-qwen"]))
    assert config == {
        "provider": {
            "memproxy": {
                "npm": "@ai-sdk/openai-compatible",
                "name": "memproxy (shop)",
                "options": {"baseURL": f"{URL}/v1", "apiKey": "{env:OPENAI_API_KEY}"},
                "models": {"gpt-4o": {"name": "gpt-4o"}, "local-qwen": {"name": "local-qwen"}},
            }
        }
    }


def test_the_users_own_inline_opencode_config_is_kept_and_their_memproxy_settings_win() -> None:
    theirs = {
        "model": "memproxy/gpt-4o",
        "provider": {
            "anthropic": {"options": {"timeout": 1}},
            "memproxy": {"name": "mine", "options": {"timeout": 5}, "models": {"gpt-4o": {"name": "GPT"}}},
        },
    }
    config = json.loads(opencode_config(URL, "shop", ["gpt-4o", "o3"], json.dumps(theirs)))
    assert config["model"] == "memproxy/gpt-4o"
    assert config["provider"]["anthropic"] == {"options": {"timeout": 1}}
    mine = config["provider"]["memproxy"]
    assert mine["name"] == "mine"
    assert mine["options"] == {"baseURL": f"{URL}/v1", "apiKey": "{env:OPENAI_API_KEY}", "timeout": 5}
    assert mine["models"] == {"gpt-4o": {"name": "GPT"}, "o3": {"name": "o3"}}
    # an inline config that is not JSON is replaced rather than passed on broken
    assert "memproxy" in json.loads(opencode_config(URL, "shop", [], "{not json"))["provider"]


def test_llm_user_dir_is_found_as_llm_finds_it(tmp_path: Path) -> None:
    assert llm_user_dir({"LLM_USER_PATH": str(tmp_path / "mine"), "HOME": "/h"}) == tmp_path / "mine"
    assert llm_user_dir({"XDG_CONFIG_HOME": "/x", "HOME": "/h"}) == Path("/x/io.datasette.llm")
    assert llm_user_dir({"HOME": "/h"}) == Path("/h/.config/io.datasette.llm")


def test_llms_folder_links_the_users_files_and_adds_the_ports_models(tmp_path: Path) -> None:
    user, folder = tmp_path / "user", tmp_path / "state" / "llm" / "shop"
    user.mkdir()
    (user / "keys.json").write_text('{"openai": "sk-mine"}')
    (user / "templates").mkdir()
    mine = [{"model_id": "local-qwen", "model_name": "qwen", "api_base": "http://localhost:11434/v1"}]
    (user / LLM_MODELS_FILE).write_text(yaml.safe_dump(mine))

    prepare_llm_dir(user, folder, "http://127.0.0.1:8801/client/llm", ["gpt-4o", "local-qwen"])

    assert (folder / "keys.json").read_text() == '{"openai": "sk-mine"}'
    assert (folder / "templates").resolve() == user / "templates"
    # what llm creates when missing is created in the user's folder, through the link
    (folder / "logs.db").write_text("db")
    assert (user / "logs.db").read_text() == "db"
    assert yaml.safe_load((folder / LLM_MODELS_FILE).read_text()) == [
        *mine,  # the user's own model of that name wins
        {
            "model_id": "gpt-4o",
            "model_name": "gpt-4o",
            "api_base": "http://127.0.0.1:8801/client/llm/v1",
            "api_key_name": "memproxy",
        },
    ]
    assert yaml.safe_load((user / LLM_MODELS_FILE).read_text()) == mine  # never written to

    # the next run follows the user's folder as it is then
    (user / "templates").rmdir()
    prepare_llm_dir(user, folder, "http://127.0.0.1:8801/client/llm", [])
    assert not (folder / "templates").is_symlink()
    assert yaml.safe_load((folder / LLM_MODELS_FILE).read_text()) == mine


def test_tool_env_for_llm_points_it_at_the_laid_out_folder(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "LLM_USER_PATH": str(tmp_path / "user")}
    assert tool_env(env, 9, "shop", "llm", tmp_path / "state") == {"LLM_USER_PATH": str(tmp_path / "state/llm/shop")}
    assert (tmp_path / "state/llm/shop" / LLM_MODELS_FILE).exists()
    # llm run inside another intercept of the project: its folder is already the one to use
    inner = {"LLM_USER_PATH": str(tmp_path / "state/llm/shop")}
    assert tool_env(inner, 9, "shop", "llm", tmp_path / "state") == {}


def test_tool_env_for_opencode_and_for_tools_that_need_nothing(tmp_path: Path) -> None:
    env = tool_env({}, 9, "shop", "opencode", tmp_path)
    assert json.loads(env["OPENCODE_CONFIG_CONTENT"])["provider"]["memproxy"]["options"]["baseURL"] == (
        "http://127.0.0.1:9/client/opencode/v1"
    )
    assert tool_env({}, 9, "shop", "aider", tmp_path) == tool_env({}, 9, "shop", None, tmp_path) == {}


def test_gemini_gets_a_settings_copy_it_trusts_when_the_package_sits_below_an_open_folder(tmp_path: Path) -> None:
    """gemini-cli skips settings below a folder others can write to (/tmp): intercept hands it a copy."""
    import tempfile

    from interceptor.tool_config import gemini_settings, gemini_trusts
    from interceptor.wrap import GEMINI_SETTINGS

    env = {"GEMINI_CLI_SYSTEM_DEFAULTS_PATH": str(GEMINI_SETTINGS)}
    assert gemini_settings({"GEMINI_CLI_SYSTEM_DEFAULTS_PATH": "/etc/mine.json"}, tmp_path) == {}  # the user's wins
    if gemini_trusts(GEMINI_SETTINGS):
        assert gemini_settings(env, tmp_path) == {}  # the packaged file is read as it is
        return
    try:
        state = Path(tempfile.mkdtemp(dir="/run"))  # a folder no one else can write to, as a user's state dir is
    except OSError:
        pytest.skip("no folder gemini-cli trusts can be made here (needs root for /run)")
    try:
        os.chmod(state, 0o700)
        (copy,) = gemini_settings(env, state).values()
        assert Path(copy).read_bytes() == GEMINI_SETTINGS.read_bytes() and gemini_trusts(Path(copy))
        assert gemini_settings(env, tmp_path) == {}  # a state folder below /tmp would be skipped too
    finally:
        shutil.rmtree(state, ignore_errors=True)
