"""Test 5: `dagster asset materialize` in a subprocess, and the real dagster-webserver's GraphQL."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path

import dagster as dg
import pytest

from dlgforge_assets.instance import open_instance
from tests.dagster.conftest import REPO, free_port, graph_for, python_env, write_project

BIN = Path(__import__("sys").executable).parent
ASSETS = {"kb_documents", "kb_index", "conversations", "judged_conversations", "sharegpt_export",
          "dataset_stats", "dataset_export", "hf_dataset"}


def _graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _asset_keys_from_webserver(port: int, proc: subprocess.Popen, timeout_s: float = 300) -> set[str]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"dagster-webserver exited with {proc.returncode}")
        try:
            data = _graphql(port, "{ assetNodes { assetKey { path } } }")
        except OSError:
            time.sleep(1)
            continue
        nodes = (data.get("data") or {}).get("assetNodes") or []
        if nodes:
            return {"/".join(node["assetKey"]["path"]) for node in nodes}
        time.sleep(1)
    pytest.fail("dagster-webserver did not list the assets in time")


def test_dagster_cli_materialize_and_webserver(tmp_path: Path, fake_llm) -> None:
    config = write_project(tmp_path, fake_llm.base_url, run={"target_languages": ["en", "fr"]})
    home = tmp_path / "dagster_home"
    env = python_env(DAGSTER_HOME=str(home), DLGFORGE_CONFIG=str(config))
    assets, resources = graph_for(config)
    with open_instance(home) as instance:
        assert dg.materialize(assets, selection=["kb_index"], instance=instance, resources=resources).success

    done = subprocess.run(
        [str(BIN / "dagster"), "asset", "materialize", "--select", "conversations", "--partition", "en",
         "-m", "dlgforge_assets.definitions"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = (tmp_path / "output" / "synthetic_qa.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["language"] for line in lines) == ["en", "en"]
    with open_instance(home) as instance:
        assert instance.get_materialized_partitions(dg.AssetKey("conversations")) == {"en"}
        event = instance.get_latest_materialization_event(dg.AssetKey("conversations"))
        assert event.asset_materialization.metadata["accepted"].value == 2

    port = free_port()
    server = subprocess.Popen(
        [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port), "-m", "dlgforge_assets.definitions"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        assert _asset_keys_from_webserver(port, server) == ASSETS
        partitions = _graphql(port, '{ assetNodeOrError(assetKey: {path: ["conversations"]}) '
                                    '{ ... on AssetNode { partitionKeys } } }')
        assert partitions["data"]["assetNodeOrError"]["partitionKeys"] == ["en", "fr"]
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
