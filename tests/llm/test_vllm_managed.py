"""vllm_managed: replicas as Ray actors holding (faked) GPUs, started from the launch template.

Real local Ray (started by the backend with ``ray.num_gpus: 2`` so GPU actors can be placed on
this GPU-less machine), the loopback fake server as the "vLLM" process, real HTTP.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import yaml

from dlgforge_core.config import load_config
from dlgforge_core.errors import ConfigError, LLMSetupError
from dlgforge_core.llm.client import LLMClient
from dlgforge_core.llm.vllm_managed import managed_llm
from dlgforge_core.llm.vllm_replica import command_fields, command_template
from tests.llm.helpers import QuestionReply, ask
from tests.support.replicas import alive, replica_pids

FAKE = "{python} -m tests.fake_llm --port {port} --name r{replica} --model {served_model_name}"


@pytest.fixture(scope="module", autouse=True)
def _ray_shutdown():
    yield
    import ray

    if ray.is_initialized():
        ray.shutdown()


def _cfg(tmp_path: Path, port: int, **vllm) -> object:
    (tmp_path / "knowledge").mkdir(exist_ok=True)
    section = {"model": "fake-model", "replicas": 2, "port_start": port, "health_timeout_s": 60,
               "launch_command": FAKE + " --request-log " + str(tmp_path / "req-{replica}.jsonl"),
               **vllm}
    config = {"llm": {"backend": "vllm_managed", "cache": {"enabled": False}, "max_retries": 1,
                      "timeout": 10, "vllm": section},
              "ray": {"num_gpus": 2, "num_cpus": 2}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return load_config(tmp_path / "config.yaml")


def _ask_many(cfg, n: int) -> int:
    async def main() -> int:
        client = LLMClient(cfg, log_dir=cfg.logs_dir)
        try:
            await client.check()
            replies = await asyncio.gather(*(client.structured("qa_generator", ask(i), QuestionReply)
                                             for i in range(n)))
            return len(replies)
        finally:
            await client.aclose()
    return asyncio.run(main())


def test_two_replicas_start_serve_and_stop(tmp_path):
    cfg = _cfg(tmp_path, 18431)
    with managed_llm(cfg, echo=lambda line: None) as served:
        urls = [e.base_url for e in served.llm.routing.endpoints]
        assert urls == ["http://127.0.0.1:18431/v1", "http://127.0.0.1:18432/v1"]
        pids = replica_pids(cfg.logs_dir)
        assert len(pids) == 2 and all(alive(pid) for pid in pids)
        assert _ask_many(served, 24) == 24
    for replica in (0, 1):
        lines = (tmp_path / f"req-{replica}.jsonl").read_text().splitlines()
        assert lines and all(json.loads(line)["status"] == 200 for line in lines)
        assert (cfg.logs_dir / "vllm" / f"replica-{replica}.log").read_text().startswith("$ ")
    assert not any(alive(pid) for pid in pids)
    assert "2 replica(s) stopped" in (cfg.logs_dir / "run.log").read_text()


def test_a_failing_run_still_stops_the_replicas(tmp_path):
    cfg = _cfg(tmp_path, 18441)
    with pytest.raises(RuntimeError, match="the run broke"):
        with managed_llm(cfg, echo=lambda line: None) as served:
            assert _ask_many(served, 4) == 4
            pids = replica_pids(cfg.logs_dir)
            raise RuntimeError("the run broke")
    assert len(pids) == 2 and not any(alive(pid) for pid in pids)


def test_a_replica_that_exits_early_fails_fast_with_its_log(tmp_path):
    crash = "{python} -c \"import sys; print('CUDA out of memory on replica {replica}'); sys.exit(3)\""
    cfg = _cfg(tmp_path, 18451, launch_command=crash)
    with pytest.raises(LLMSetupError) as err:
        with managed_llm(cfg, echo=lambda line: None):
            pytest.fail("the scope must not be entered")
    message = str(err.value)
    assert message.startswith("llm.vllm: replica 0 (http://127.0.0.1:18451/v1) exited with code 3")
    assert "CUDA out of memory on replica 0" in message and "\n" not in message
    assert not any(alive(pid) for pid in replica_pids(cfg.logs_dir))


def test_one_replica_failing_stops_the_start_while_another_is_still_loading(tmp_path):
    launch = ("{python} -c \"import sys, time; print('loading'); sys.stdout.flush(); "
              "time.sleep(300) if {replica} == 0 else sys.exit('replica {replica}: bad model')\"")
    cfg = _cfg(tmp_path, 18481, launch_command=launch)
    with pytest.raises(LLMSetupError) as err:
        with managed_llm(cfg, echo=lambda line: None):
            pytest.fail("the scope must not be entered")
    assert str(err.value).startswith("llm.vllm: replica 1 (http://127.0.0.1:18482/v1) exited with code 1")
    assert "replica 1: bad model" in str(err.value)
    pids = replica_pids(cfg.logs_dir)
    assert len(pids) == 2 and not any(alive(pid) for pid in pids)  # the loading one was killed


def test_a_busy_port_is_named_before_anything_starts(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 18491))
        taken.listen()
        cfg = _cfg(tmp_path, 18490)
        with pytest.raises(LLMSetupError, match=r"llm\.vllm: replica 1: port 18491 on .* is in use "
                                                r"\(.*; change llm\.vllm\.port_start\)"):
            with managed_llm(cfg, echo=lambda line: None):
                pytest.fail("the scope must not be entered")
    pids = replica_pids(cfg.logs_dir)
    assert len(pids) == 1 and not alive(pids[0])  # replica 0 had started: it was stopped


def test_more_gpus_than_the_cluster_has_is_refused_before_starting(tmp_path):
    cfg = _cfg(tmp_path, 18461, replicas=3)
    with pytest.raises(LLMSetupError, match=r"llm\.vllm\.replicas: 3 replica\(s\) x 1 GPU need 3 GPUs; "
                                            r"the Ray cluster has 2"):
        with managed_llm(cfg, echo=lambda line: None):
            pytest.fail("the scope must not be entered")
    log = cfg.logs_dir / "run.log"
    assert not log.exists() or "pid" not in log.read_text()  # no replica was started


def test_config_mistakes_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"llm\.vllm\.launch_command: unknown placeholder \{gpu\}"):
        _cfg(tmp_path, 18471, launch_command="serve --gpu {gpu}")
    with pytest.raises(ConfigError, match=r"llm\.vllm\.model: vllm_managed needs the model"):
        _cfg(tmp_path, 18471, model=None)
    with pytest.raises(ConfigError, match=r"llm\.vllm\.num_gpus_per_replica: 1 GPUs cannot hold "
                                          r"tensor_parallel_size 2"):
        _cfg(tmp_path, 18471, launch_command=None, tensor_parallel_size=2)


def test_default_command_is_vllm_serve_with_the_settings(tmp_path):
    cfg = _cfg(tmp_path, 18000, launch_command=None, served_model_name="chat",
               extra_args=["--dtype", "bfloat16"])
    vllm = cfg.llm.vllm
    argv = [t.format(**command_fields(vllm, 1), python="py", vllm="vllm")
            for t in command_template(vllm)]
    assert argv == ["vllm", "serve", "fake-model", "--served-model-name", "chat", "--host",
                    "127.0.0.1", "--port", "18001", "--tensor-parallel-size", "1",
                    "--gpu-memory-utilization", "0.9", "--max-num-seqs", "256",
                    "--dtype", "bfloat16"]
