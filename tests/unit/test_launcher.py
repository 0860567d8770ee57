"""The launcher's pure parts: settings, probing, messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import psutil
import pytest

from ocbook_engine import launcher


def test_engine_env_has_the_settings_that_make_it_work_here(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://elsewhere:1")
    env = launcher.engine_env()
    assert env["OVERRIDE_IN_DOCKER"] == "0" and env["GATEWAY_SERVER"] == "hypercorn"
    assert env["GATEWAY_LISTEN"] == f"127.0.0.1:{launcher.PORT}"
    assert env["LAMBDA_RUNTIME_EXECUTOR"] == "local-process"
    assert env["PROVIDER_OVERRIDE_DYNAMODB"] == env["PROVIDER_OVERRIDE_DYNAMODBSTREAMS"] == "moto"
    assert env["PROVIDER_OVERRIDE_KINESIS"] == "moto" and env["DNS_ADDRESS"] == "0"
    for key in ("FILESYSTEM_ROOT", "TMPDIR", "XDG_CACHE_HOME"):
        assert env[key].startswith(str(launcher.HOME))
    assert "AWS_ENDPOINT_URL" not in env  # the engine must not inherit the book's client settings


def test_time_scale_is_one_setting_passed_to_the_engine(monkeypatch):
    monkeypatch.delenv("OCBOOK_TIME_SCALE", raising=False)
    assert float(launcher.engine_env()["OCBOOK_TIME_SCALE"]) == 1 / 60
    monkeypatch.setenv("OCBOOK_TIME_SCALE", "1")
    assert launcher.engine_env()["OCBOOK_TIME_SCALE"] == "1.0"
    assert launcher.engine_env()["PROVIDER_OVERRIDE_EVENTS"] == "ocbook"


def test_a_bad_time_scale_is_refused_with_what_to_do(monkeypatch):
    monkeypatch.setenv("OCBOOK_TIME_SCALE", "60")
    with pytest.raises(launcher.EngineError, match=r"must be in \(0, 1\]"):
        launcher.engine_env()


def test_explicit_python_comes_first(monkeypatch):
    monkeypatch.setenv("OCBOOK_ENGINE_PYTHON", "/opt/my/python3.13")
    assert launcher.python313_candidates()[0] == "/opt/my/python3.13"


def test_health_of_a_closed_port_is_none():
    assert launcher.health("http://127.0.0.1:9", timeout=0.5) is None


@pytest.mark.parametrize("document, accepted", [
    ({"services": {"s3": "running", "lambda": "available"}, "version": "4.0"}, True),  # positive control
    ({"services": {}}, False),
    ({"services": "yes"}, False),
    ({"services": {"s3": "on fire"}}, False),
    ({"services": {"my-tool": "running"}}, False),
    (["services"], False),
])
def test_health_accepts_only_localstack_s_health_document(monkeypatch, document, accepted):
    class Answer:
        def __init__(self, *args, **kwargs):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self):
            return json.dumps(document).encode()

    monkeypatch.setattr(launcher.urllib.request, "urlopen", Answer)
    assert (launcher.health("http://127.0.0.1:9") is not None) is accepted


def test_bench_options_reach_the_benchmark(monkeypatch):
    seen = []
    monkeypatch.setattr(launcher, "bench", seen.append)
    assert launcher.main(["bench", "--rounds", "3", "--functions", "2"]) == 0
    assert seen == [["--rounds", "3", "--functions", "2"]]
    with pytest.raises(SystemExit):  # another command still refuses an option it does not know
        launcher.main(["status", "--rounds", "3"])


def test_tree_memory_counts_this_process():
    rss, pss = launcher.tree_memory_mb(os.getpid())
    assert rss > 1 and 0 < pss <= rss


def test_engine_env_is_built_from_scratch(monkeypatch):
    monkeypatch.setenv("I13_CANARY_SECRET", "do-not-leak")
    monkeypatch.setenv("OCBOOK_TIME_SCALE", "0.5")
    monkeypatch.setenv("SERVICES", "sqs,lambda")
    monkeypatch.setenv("LANG", "C.UTF-8")
    env = launcher.engine_env()
    assert "I13_CANARY_SECRET" not in env  # negative check ...
    assert env["OCBOOK_TIME_SCALE"] == "0.5" and env["SERVICES"] == "sqs,lambda"  # ... and what must pass
    assert env["LANG"] == "C.UTF-8" and env["PATH"] == os.environ["PATH"]
    assert env["OCBOOK_ENGINE_ID"] == launcher.ENGINE_ID and env["TMPDIR"] == str(launcher.TEMP_DIR)


def test_each_port_has_its_own_run_folder_and_log():
    assert launcher.RUN_DIR == launcher.HOME / "run" / str(launcher.PORT)
    assert launcher.STATE_FILE.parent == launcher.RUN_DIR and launcher.TEMP_DIR.parent == launcher.RUN_DIR
    assert launcher.LOG_FILE.name == f"localstack-{launcher.PORT}.log"


def test_empty_home_means_the_default_home():
    result = subprocess.run([sys.executable, str(launcher.__file__), "env"], capture_output=True, text=True,
                            env=dict(os.environ, OCBOOK_ENGINE_HOME="", OCBOOK_ENGINE_PORT="4599"))
    assert f"FILESYSTEM_ROOT={launcher.REPO / '.engine' / 'run' / '4599' / 'state'}" in result.stdout


def test_explicit_python_that_is_not_313_is_an_error(monkeypatch):
    monkeypatch.setenv("OCBOOK_ENGINE_PYTHON", sys.executable)  # the book's venv: 3.11 or 3.12
    with pytest.raises(launcher.EngineError, match=r"is Python 3\.1[12], but the embedded LocalStack needs"):
        launcher.find_python313()
    monkeypatch.setenv("OCBOOK_ENGINE_PYTHON", "/nonexistent/python3.13")
    with pytest.raises(launcher.EngineError, match="does not run"):
        launcher.find_python313()


@pytest.fixture
def state_in(tmp_path, monkeypatch):
    """Point the launcher's state file into a temporary folder."""
    monkeypatch.setattr(launcher, "STATE_FILE", tmp_path / "engine.json")
    return launcher.STATE_FILE


def sleeper(env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(["sleep", "60"], env=env, start_new_session=True)


def test_recorded_pid_counts_only_with_its_start_time_and_our_identity(state_in):
    ours = sleeper(dict(os.environ, OCBOOK_ENGINE_ID=launcher.ENGINE_ID))
    stranger = sleeper(dict(os.environ, OCBOOK_ENGINE_ID=launcher.ENGINE_ID + "0"))
    try:
        for process in (ours, stranger):
            launcher.write_state(psutil.Process(process.pid))
            verified = launcher.engine_process()
            assert (verified is not None) == (process is ours)
        launcher.write_state(psutil.Process(ours.pid))
        state = json.loads(state_in.read_text())
        state_in.write_text(json.dumps(dict(state, create_time=state["create_time"] - 10)))  # a reused pid
        assert launcher.engine_process() is None
    finally:
        for process in (ours, stranger):
            process.kill()
            process.wait()


def test_leftovers_are_found_by_identity_not_by_command_line(state_in):
    state_in.unlink(missing_ok=True)
    left = sleeper(dict(os.environ, TMPDIR=str(launcher.TEMP_DIR)))
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", str(launcher.HOME),
                                  str(launcher.TEMP_DIR)], start_new_session=True)
    try:
        engine, others = launcher.engine_tree()
        pids = {p.pid for p in others}
        assert bystander.poll() is None and left.pid in pids and bystander.pid not in pids
    finally:
        for process in (left, bystander):
            process.kill()
            process.wait()


def test_an_engine_of_the_earlier_launcher_is_recognised_by_its_settings(state_in, tmp_path, monkeypatch):
    monkeypatch.setattr(launcher, "LEGACY_PID_FILE", tmp_path / "localstack.pid")
    settings = {"GATEWAY_LISTEN": f"127.0.0.1:{launcher.PORT}", "FILESYSTEM_ROOT": str(launcher.HOME / "state")}
    old_engine = sleeper(dict(os.environ, **settings))
    elsewhere = sleeper(dict(os.environ, **dict(settings, FILESYSTEM_ROOT=str(tmp_path / "state"))))
    try:
        state_in.unlink(missing_ok=True)
        for process in (old_engine, elsewhere):
            launcher.LEGACY_PID_FILE.write_text(str(process.pid))
            assert (launcher.engine_process() is not None) == (process is old_engine)
    finally:
        for process in (old_engine, elsewhere):
            process.kill()
            process.wait()
